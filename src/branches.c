/*-------------------------------------------------------------------------
 *
 * branches.c
 *	  The branches of a transaction across nodes, checked before it
 *	  starts: their shape (rig_branches_normalize) and, on every other node
 *	  they name, that their three methods are registered there (one
 *	  pipelined question per node, sent before the start op is written and
 *	  read after it, for xnode.c).  A session remembers for
 *	  RIG_BRANCH_METHOD_TTL_MS what another node answered, so a client
 *	  starting the same kind of transaction again does not wait for that
 *	  node each time.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/branches.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "libpq-fe.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "branches.h"
#include "catalog.h"
#include "conn.h"
#include "handlers.h"
#include "locks.h"
#include "remotenode.h"
#include "settings.h"

/* The most branches one transaction may have */
#define RIG_BRANCHES_MAX	100

/*
 * How long a session trusts another node's answer that it has a method
 * (ms).  A method unregistered there meanwhile is not an error of the
 * start but a no vote of the branch's prepare ("aborted", reason branch).
 */
#define RIG_BRANCH_METHOD_TTL_MS	10000

/*
 * A method another node said it has: key "node<TAB>method" (names may hold
 * '/', never a tab; each at most RIG_MAX_NAME_LEN bytes)
 */
typedef struct RigKnownMethod
{
	char		key[2 * RIG_MAX_NAME_LEN + 2];
	uint32		conninfo_hash;	/* the node as it was registered then */
	TimestampTz confirmed;
} RigKnownMethod;

/* One node's question about its methods, and the connection it went on */
typedef struct RigMethodQuestion
{
	char	   *node;
	uint32		conninfo_hash;
	List	   *methods;		/* the ones asked: not known to this session */
	RigConn    *rc;				/* NULL: none to ask */
} RigMethodQuestion;

static HTAB *rig_known_methods = NULL;

static char *rig_branch_field(JsonbContainer *obj, int n, const char *field);
static void rig_branch_check_keys(JsonbContainer *obj, int n);
static void rig_branch_check_method(const char *node, int n, const char *method,
									List **remote);
static RigKnownMethod *rig_known_method(const char *node, const char *method, bool enter);
static RigMethodQuestion *rig_check_remote_methods_send(const char *node, List *methods);
static void rig_check_remote_methods_read(RigMethodQuestion *q);

/* A branch's text field (NULL when absent); throws when it is not a string. */
static char *
rig_branch_field(JsonbContainer *obj, int n, const char *field)
{
	JsonbValue *v = getKeyJsonValueFromContainer(obj, field, strlen(field), NULL);

	if (v == NULL || v->type == jbvNull)
		return NULL;
	if (v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("branch %d: \"%s\" must be a string", n, field)));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* A branch has node, prepare, commit, abort and data, nothing else. */
static void
rig_branch_check_keys(JsonbContainer *obj, int n)
{
	JsonbIterator *it = JsonbIteratorInit(obj);
	JsonbValue	v;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *key;

		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(v.val.string.val, v.val.string.len);
		if (strcmp(key, "node") != 0 && strcmp(key, "prepare") != 0 &&
			strcmp(key, "commit") != 0 && strcmp(key, "abort") != 0 &&
			strcmp(key, "data") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("branch %d: unknown key \"%s\"", n, rig_name_for_message(key)),
					 errhint("A branch has \"node\", \"prepare\", \"commit\", \"abort\" and \"data\".")));
	}
}

static void
rig_branch_check_method(const char *node, int n, const char *method,
						List **remote)
{
	rig_check_identifier("method name", method);
	if (strncmp(method, "rig.", 4) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("branch %d: method \"%s\" is reserved for rig", n, method)));
	if (strcmp(node, rig_node_name()) != 0)
	{
		*remote = lappend(*remote, (void *) method);
		return;
	}
	if (rig_lookup_handler(method) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("branch %d: method \"%s\" is not registered on node \"%s\"", n, method, node),
				 errhint("Register it with rig_register() on that node.")));
}

/* This session's entry for a method of another node (NULL: none, unless enter). */
static RigKnownMethod *
rig_known_method(const char *node, const char *method, bool enter)
{
	char		key[2 * RIG_MAX_NAME_LEN + 2];

	if (rig_known_methods == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(key);
		ctl.entrysize = sizeof(RigKnownMethod);
		rig_known_methods = hash_create("rig methods of other nodes", 16, &ctl,
										HASH_ELEM | HASH_STRINGS);
	}
	snprintf(key, sizeof(key), "%s\t%s", node, method);
	return hash_search(rig_known_methods, key, enter ? HASH_ENTER : HASH_FIND, NULL);
}

static RigMethodQuestion *
rig_check_remote_methods_send(const char *node, List *methods)
{
	char	   *conninfo;
	char	   *err;
	char		key[RIG_CONN_KEYLEN];
	StringInfoData arr;
	const char *params[1];
	RigConn    *rc;
	ListCell   *lc;
	MemoryContext outer = CurrentMemoryContext;
	RigMethodQuestion *q = palloc0(sizeof(RigMethodQuestion));
	TimestampTz now = GetCurrentTimestamp();

	/* held to the end: a concurrent rig_drop_node waits for this start */
	rig_lock_remote_node(node, false);
	SPI_connect();
	conninfo = rig_remote_node_conninfo(node);
	if (conninfo != NULL)
		conninfo = MemoryContextStrdup(outer, conninfo);
	SPI_finish();
	if (conninfo == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("node \"%s\" is not registered", rig_name_for_message(node)),
				 errhint("Register it with rig_add_node(); rig.remote_nodes lists the nodes.")));

	/* only what this session has not heard from the node as registered now */
	q->node = pstrdup(node);
	q->conninfo_hash = hash_bytes((const unsigned char *) conninfo, strlen(conninfo));
	foreach(lc, methods)
	{
		RigKnownMethod *known = rig_known_method(node, lfirst(lc), false);

		if (known == NULL || known->conninfo_hash != q->conninfo_hash ||
			TimestampDifferenceExceeds(known->confirmed, now, RIG_BRANCH_METHOD_TTL_MS))
			q->methods = lappend(q->methods, lfirst(lc));
	}
	if (q->methods == NIL)
		return q;

	/* method names have no characters an array literal must quote */
	initStringInfo(&arr);
	appendStringInfoChar(&arr, '{');
	foreach(lc, q->methods)
		appendStringInfo(&arr, "%s%s", foreach_current_index(lc) > 0 ? "," : "",
						 (char *) lfirst(lc));
	appendStringInfoChar(&arr, '}');
	params[0] = arr.data;

	snprintf(key, sizeof(key), "%s#node", node);
	rc = rig_conn_try_get(key, conninfo, rig_deadline(rig_sync_timeout), &err);
	if (rc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("could not connect to node \"%s\" to check its methods", node),
				 errdetail_internal("%s", err),
				 errhint("Nothing was started; retry when the node is reachable.")));
	if (!PQsendQueryParams(rc->conn, "SELECT m FROM pg_catalog.unnest($1::text[]) m "
						   "WHERE NOT EXISTS (SELECT 1 FROM rig.handlers h WHERE h.method = m) LIMIT 1",
						   1, NULL, params, NULL, NULL, 0) ||
		!rig_conn_flush(rc, rig_deadline(rig_sync_timeout), true))
		rig_conn_fail(rc, NULL, "send a query to");
	q->rc = rc;
	return q;
}

/*
 * Read a node's answer to rig_check_remote_methods_send: throw if a
 * method is missing, else remember that the node has them.
 */
static void
rig_check_remote_methods_read(RigMethodQuestion *q)
{
	TimestampTz deadline = rig_deadline(rig_sync_timeout);
	const char *node = q->node;
	RigConn    *rc = q->rc;
	PGresult   *res;
	PGresult   *last = NULL;
	bool		timed_out;
	ListCell   *lc;

	if (rc == NULL)
		return;

	while ((res = rig_conn_result(rc, deadline, true, &timed_out)) != NULL)
	{
		PQclear(last);
		last = res;
	}
	if (timed_out || last == NULL)
	{
		PQclear(last);
		rig_conn_fail(rc, NULL, timed_out ? "hear back in time from" : "read from");
	}
	if (PQresultStatus(last) != PGRES_TUPLES_OK)
		rig_conn_fail(rc, last, NULL);
	if (PQntuples(last) > 0)
	{
		char	   *m = pstrdup(PQgetvalue(last, 0, 0));

		PQclear(last);
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("method \"%s\" is not registered on node \"%s\"", m, node),
				 errhint("Register it with rig_register() on that node.")));
	}
	PQclear(last);
	foreach(lc, q->methods)
	{
		RigKnownMethod *known = rig_known_method(node, lfirst(lc), true);

		known->conninfo_hash = q->conninfo_hash;
		known->confirmed = GetCurrentTimestamp();
	}
}

char *
rig_branches_normalize(Jsonb *branches, int *count, List **remote)
{
	StringInfoData out;
	List	   *nodes = NIL;
	List	   *node_methods = NIL;
	int			n;

	if (!JB_ROOT_IS_ARRAY(branches) || JB_ROOT_IS_SCALAR(branches))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("branches must be a JSON array of objects"),
				 errhint("Each branch: {\"node\": ..., \"prepare\": ..., \"commit\": ..., \"abort\": ..., \"data\": {...}}.")));
	n = JB_ROOT_COUNT(branches);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a transaction needs at least one branch")));
	if (n > RIG_BRANCHES_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a transaction may have at most %d branches", RIG_BRANCHES_MAX)));

	initStringInfo(&out);
	appendStringInfoChar(&out, '[');
	for (int i = 0; i < n; i++)
	{
		JsonbValue *b = getIthJsonbValueFromContainer(&branches->root, i);
		JsonbValue *data;
		const char *fields[3] = {"prepare", "commit", "abort"};
		char	   *methods[3];
		char	   *node;
		ListCell   *lc;
		int			pos = -1;

		if (b->type != jbvBinary || !JsonContainerIsObject(b->val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("branch %d is not a JSON object", i)));
		rig_branch_check_keys(b->val.binary.data, i);
		node = rig_branch_field(b->val.binary.data, i, "node");
		if (node == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("branch %d has no \"node\"", i)));
		rig_check_identifier("node name", node);
		foreach(lc, nodes)
			if (strcmp((char *) lfirst(lc), node) == 0)
				pos = foreach_current_index(lc);
		if (pos < 0)
		{
			nodes = lappend(nodes, node);
			node_methods = lappend(node_methods, NIL);
			pos = list_length(nodes) - 1;
		}
		for (int f = 0; f < 3; f++)
		{
			List	   *remote = (List *) list_nth(node_methods, pos);

			methods[f] = rig_branch_field(b->val.binary.data, i, fields[f]);
			if (methods[f] == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("branch %d has no \"%s\" method", i, fields[f]),
						 errhint("Every branch names a prepare, a commit and an abort method.")));
			rig_branch_check_method(node, i, methods[f], &remote);
			list_nth_cell(node_methods, pos)->ptr_value = remote;
		}
		data = getKeyJsonValueFromContainer(b->val.binary.data, "data", 4, NULL);
		if (data != NULL && (data->type != jbvBinary || !JsonContainerIsObject(data->val.binary.data)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("branch %d: \"data\" must be a JSON object", i)));

		appendStringInfoString(&out, i > 0 ? ", {\"node\": " : "{\"node\": ");
		escape_json(&out, node);
		for (int f = 0; f < 3; f++)
		{
			appendStringInfo(&out, ", \"%s\": ", fields[f]);
			escape_json(&out, methods[f]);
		}
		appendStringInfoString(&out, ", \"data\": ");
		appendStringInfoString(&out, data == NULL ? "{}" :
							   JsonbToCString(NULL, data->val.binary.data, data->val.binary.len));
		/* this node's own: after a failover, the node that inherits the log */
		if (strcmp(node, rig_node_name()) == 0)
			appendStringInfoString(&out, ", \"on_coordinator\": true");
		appendStringInfoChar(&out, '}');
	}
	appendStringInfoChar(&out, ']');

	/* the other nodes' methods: one question per node, asked by the caller */
	*remote = NIL;
	for (int i = 0; i < list_length(nodes); i++)
		if (list_nth(node_methods, i) != NIL)
			*remote = lappend(*remote, list_make2(list_nth(nodes, i), list_nth(node_methods, i)));
	*count = n;
	return out.data;
}

/*
 * Send every other node its question about the branches' methods (none
 * when this session knows them); returns the questions, for
 * rig_branches_check_read.
 */
List *
rig_branches_check_send(List *remote)
{
	List	   *sent = NIL;
	ListCell   *lc;

	PG_TRY();
	{
		foreach(lc, remote)
		{
			List	   *r = lfirst(lc);

			sent = lappend(sent, rig_check_remote_methods_send(linitial(r), lsecond(r)));
		}
	}
	PG_CATCH();
	{
		rig_branches_check_discard(sent);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return sent;
}

/* Read every answer of rig_branches_check_send; throw at the first missing method. */
void
rig_branches_check_read(List *sent)
{
	ListCell   *lc;

	PG_TRY();
	{
		foreach(lc, sent)
			rig_check_remote_methods_read(lfirst(lc));
	}
	PG_CATCH();
	{
		/* answers left unread: those connections cannot be used again */
		foreach(lc, sent)
		{
			RigConn    *rc = ((RigMethodQuestion *) lfirst(lc))->rc;

			if (rc != NULL && rc->conn != NULL &&
				(PQisBusy(rc->conn) || PQtransactionStatus(rc->conn) != PQTRANS_IDLE))
				rig_conn_discard(rc);
		}
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/* Drop the connections of questions whose answers will not be read. */
void
rig_branches_check_discard(List *sent)
{
	ListCell   *lc;

	foreach(lc, sent)
	{
		RigMethodQuestion *q = lfirst(lc);

		if (q->rc != NULL)
			rig_conn_discard(q->rc);
	}
}
