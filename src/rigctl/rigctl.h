/*-------------------------------------------------------------------------
 *
 * rigctl.h
 *	  Declarations shared by rigctl's files.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/rigctl/rigctl.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RIGCTL_H
#define RIGCTL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

/* Exit codes.  status uses the monitoring-plugin codes 0-3. */
#define RIGCTL_EXIT_OK			0
#define RIGCTL_EXIT_FAIL		1	/* the command failed (verify: differences) */
#define RIGCTL_EXIT_WARNING		1
#define RIGCTL_EXIT_CRITICAL	2
#define RIGCTL_EXIT_ERROR		2	/* verify: a peer could not be compared */
#define RIGCTL_EXIT_UNKNOWN		3
#define RIGCTL_EXIT_USAGE		64	/* sysexits.h EX_USAGE */

/* What option parsing returns when it printed --help: exit 0 */
#define RIGCTL_DONE				(-1)

/* The most -d options status takes */
#define RIGCTL_MAX_TARGETS		64

/* rigctl.c */
extern const char *rigctl_progname;
extern void rigctl_usage_error(const char *cmd, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));
extern void rigctl_error(const char *cmd, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));
extern int	rigctl_help(const char *cmd);
extern long long rigctl_parse_version(const char *cmd, const char *opt, const char *value);

/* connect.c */
extern PGconn *rigctl_connect(const char *conninfo, char **error);
extern char *rigctl_conninfo_display(const char *conninfo);
extern PGresult *rigctl_query(PGconn *conn, const char *sql, int nparams,
							  const char *const *params, char **error);
extern char *rigctl_result_error(const PGresult *res);
extern bool rigctl_command_ok(PGconn *conn, const char *sql, char **error);
extern int	rigctl_query_timeout_ms;
extern PGresult *rigctl_exec(PGconn *conn, const char *sql, int nparams,
							 const char *const *params);

/* record.c */
extern json_t *rigctl_record_encode(PGresult *res, int row);
extern json_t *rigctl_row_json(PGresult *res, int row);
extern char *rigctl_json_line(json_t *value);
extern void rigctl_print_json(json_t *value);
extern json_t *rigctl_json_text_or_null(const char *value, bool isnull);
extern bool rigctl_json_has_real(json_t *value);

/* the commands: each takes argc/argv from its own name on, returns the exit code */
extern int	rigctl_cmd_status(int argc, char **argv);
extern int	rigctl_cmd_log(int argc, char **argv);
extern int	rigctl_cmd_export(int argc, char **argv);
extern int	rigctl_cmd_import(int argc, char **argv);
extern int	rigctl_cmd_verify(int argc, char **argv);
extern int	rigctl_cmd_promote(int argc, char **argv);
extern int	rigctl_cmd_switchover(int argc, char **argv);

/* status_print.c */
extern void rigctl_status_print_text(json_t *report);

#endif							/* RIGCTL_H */
