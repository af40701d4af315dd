/*-------------------------------------------------------------------------
 *
 * handlers.c
 *	  The handler registry: checking and storing a registration (for
 *	  rig_register() in ddl.c, and a peer applying a rig.register record)
 *	  and the per-process cache that rig_do() looks methods up in.
 *
 * Handlers are rows of rig.handlers.  Each process caches a method's
 * FmgrInfos the first time it is used; storing or removing a method sends
 * a relcache invalidation for rig.handlers at commit, and any change to pg_proc flushes the cache too, so a redefined
 * or dropped function is never called through a stale entry.  The cache
 * lives in its own memory context, reset when the cache is rebuilt, so the
 * state a function language keeps under its FmgrInfo goes with it.
 *
 * rig calls every handler as the function's owner: callers of rig_do()
 * need no EXECUTE on it, and an apply handler that any other role may
 * EXECUTE is refused, so no role can change a table around the log by
 * calling the handler itself.  rig_register() revokes EXECUTE from PUBLIC.
 *
 * Copyright (c) 2026, rig developers
 *
 * IDENTIFICATION
 *	  src/handlers.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/regproc.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/varlena.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "catalog.h"
#include "handlers.h"
#include "settings.h"

/* Columns of rig.handlers */
#define Anum_handlers_method	1
#define Anum_handlers_apply		2
#define Anum_handlers_validate	3
#define Anum_handlers_resources	4

typedef enum RigHandlerKind
{
	RIG_APPLY,
	RIG_VALIDATE,
	RIG_RESOURCES
} RigHandlerKind;

static HTAB *rig_handler_cache = NULL;
static MemoryContext rig_handler_cxt = NULL;	/* the cache and its FmgrInfos */
static bool rig_handler_cache_stale = false;
static Oid	rig_handlers_relid = InvalidOid;	/* as of the last load */
static int	rig_handler_depth = 0;	/* handler calls running in this process */

static void rig_handlers_relcache_cb(Datum arg, Oid relid);
static void rig_handlers_proc_cb(Datum arg, int cacheid, uint32 hashvalue);
static bool rig_load_handler(const char *method, RigHandler *entry);
static void rig_check_handler_signature(Oid funcoid, RigHandlerKind kind);
static void rig_check_handler_path(Oid funcoid);
static bool rig_namespace_in_use(Oid catalog, AttrNumber attnum, Oid nspid);
static void rig_refuse_temp_objects(void);
static void rig_prepare_fmgr(RigHandler *entry);
static Oid	rig_proc_owner(Oid funcoid);
static bool rig_proc_other_grantee(Oid funcoid, Oid *grantee);
static char *rig_grantee_name(Oid grantee);
static void rig_reset_handler_cache(void);
static void rig_check_handler_owner(Oid funcoid);
static void rig_make_apply_private(Oid funcoid, const char *method);
static void rig_exposed_error(Oid funcoid, const char *method, Oid grantee)
			pg_attribute_noreturn();
static const char *rig_kind_name(RigHandlerKind kind);


/* Invalidate the cache on registry changes and on any function change. */
void
rig_handlers_init(void)
{
	CacheRegisterRelcacheCallback(rig_handlers_relcache_cb, (Datum) 0);
	CacheRegisterSyscacheCallback(PROCOID, rig_handlers_proc_cb, (Datum) 0);
}

/* Relcache callback: the registry (or everything) changed. */
static void
rig_handlers_relcache_cb(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || !OidIsValid(rig_handlers_relid) ||
		relid == rig_handlers_relid)
		rig_handler_cache_stale = true;
}

/* Syscache callback: a function (its body, owner or ACL) changed. */
static void
rig_handlers_proc_cb(Datum arg, int cacheid, uint32 hashvalue)
{
	rig_handler_cache_stale = true;
}

/*
 * Drop every cached entry with the memory the function languages keep
 * under them.  Never while a handler runs: its state lives there.
 */
static void
rig_reset_handler_cache(void)
{
	HASHCTL		ctl;

	if (rig_handler_depth > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("rig operations cannot be run from inside a rig handler"),
				 errdetail("A handler's effects must follow from its own operation only, on every node.")));
	if (rig_handler_cxt == NULL)
		rig_handler_cxt = AllocSetContextCreate(CacheMemoryContext,
												"rig handler cache",
												ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(rig_handler_cxt);
	ctl.keysize = RIG_MAX_NAME_LEN + 1;
	ctl.entrysize = sizeof(RigHandler);
	ctl.hcxt = rig_handler_cxt;
	rig_handler_cache = hash_create("rig handlers", 64, &ctl,
									HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	rig_handler_cache_stale = false;
}

/* Handler of method, from the cache or rig.handlers; NULL when unknown. */
RigHandler *
rig_lookup_handler(const char *method)
{
	RigHandler *entry;
	bool		found;

	if (rig_handler_cache == NULL || rig_handler_cache_stale)
		rig_reset_handler_cache();

	if (strlen(method) > RIG_MAX_NAME_LEN)
		return NULL;

	entry = hash_search(rig_handler_cache, method, HASH_FIND, &found);
	if (!found)
	{
		RigHandler	loaded;

		memset(&loaded, 0, sizeof(loaded));
		if (!rig_load_handler(method, &loaded))
			return NULL;
		rig_check_handler_path(loaded.apply_oid);
		rig_check_handler_path(loaded.validate_oid);
		rig_check_handler_path(loaded.resources_oid);
		entry = hash_search(rig_handler_cache, method, HASH_ENTER, &found);
		memcpy(entry, &loaded, sizeof(RigHandler));
		rig_prepare_fmgr(entry);
	}
	return entry;
}

/*
 * Refuse to run an apply handler that a role other than its owner may
 * EXECUTE: that role could change the tables without a log record.  The
 * grantee was read when the entry was loaded; GRANT and REVOKE change
 * pg_proc, which reloads it.
 */
void
rig_check_handler_private(RigHandler *handler)
{
	if (handler->apply_exposed)
		rig_exposed_error(handler->apply_oid, handler->method,
						  handler->apply_grantee);
}

/* The error for an apply handler that grantee may call directly. */
static void
rig_exposed_error(Oid funcoid, const char *method, Oid grantee)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("apply handler %s of method \"%s\" can be called directly",
					format_procedure(funcoid), method),
			 errdetail("%s holds EXECUTE on it, so it could change tables without a log record; rig runs handlers as their owner, no other role needs EXECUTE.",
					   grantee == ACL_ID_PUBLIC ? "PUBLIC" :
					   psprintf("Role \"%s\"", GetUserNameFromId(grantee, false))),
			 errhint("Run: REVOKE EXECUTE ON FUNCTION %s FROM %s;",
					 format_procedure(funcoid), rig_grantee_name(grantee))));
}

/*
 * A handler that sets its own search_path must name pg_temp last: it runs
 * as its owner, and a temporary object of the caller's searched first
 * would run the caller's code with the owner's rights.
 */
static void
rig_check_handler_path(Oid funcoid)
{
	HeapTuple	tup;
	Datum		config;
	bool		isnull;
	char	   *unsafe = NULL;

	if (!OidIsValid(funcoid))
		return;
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcoid));
	if (!HeapTupleIsValid(tup))
		return;					/* dropped: rig_prepare_fmgr says so */
	config = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_proconfig, &isnull);
	if (!isnull)
	{
		ArrayType  *arr = DatumGetArrayTypeP(config);
		Datum	   *items;
		int			n;

		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &items, NULL, &n);
		for (int i = 0; i < n; i++)
		{
			char	   *item = TextDatumGetCString(items[i]);

			if (strncmp(item, "search_path=", 12) == 0 && !rig_search_path_safe(item + 12))
				unsafe = item + 12;
		}
	}
	ReleaseSysCache(tup);
	if (unsafe != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("handler %s sets search_path without pg_temp last", format_procedure(funcoid)),
				 errdetail("Its search_path is \"%s\". Handlers run as their owner; a temporary table or view of the caller, searched first, would run with the owner's rights.",
						   unsafe),
				 errhint("Name pg_temp last: ALTER FUNCTION %s SET search_path = <schemas>, pg_temp;",
						 format_procedure(funcoid))));
}

/* Does catalog hold an object of namespace nspid (attnum: its namespace column)? */
static bool
rig_namespace_in_use(Oid catalog, AttrNumber attnum, Oid nspid)
{
	Relation	rel = table_open(catalog, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	bool		found;

	ScanKeyInit(&key, attnum, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(nspid));
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 1, &key);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Does this session have temporary tables or types?  A name that no other
 * schema has finds them whatever the search_path.  (Cheap when it has
 * none: one test.)
 */
bool
rig_session_has_temp_objects(void)
{
	Oid			temp_nsp;
	Oid			temp_toast_nsp;

	GetTempNamespaceState(&temp_nsp, &temp_toast_nsp);
	if (!OidIsValid(temp_nsp))
		return false;
	return rig_namespace_in_use(RelationRelationId, Anum_pg_class_relnamespace, temp_nsp) ||
		rig_namespace_in_use(TypeRelationId, Anum_pg_type_typnamespace, temp_nsp);
}

/*
 * Handlers run as their owner, and a relation or type name they use finds
 * the session's temporary one when no other schema has it, whatever the
 * search_path: its triggers, rules or the functions of a domain would run
 * with the owner's rights.  So no handler runs in a session that has
 * temporary tables or types.
 */
static void
rig_refuse_temp_objects(void)
{
	if (rig_session_has_temp_objects())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("rig does not run handlers in a session that has temporary tables or types"),
				 errdetail("Handlers run as their owner; a name they use could find this session's temporary object, whose triggers or functions would then run with the owner's rights."),
				 errhint("Drop them (DISCARD TEMP), or call rig_do() from another session.")));
}

/*
 * Settings a handler's rows may depend on that rig pins to PostgreSQL's
 * defaults while handlers run, so that every node (and a rebuild) computes
 * the same rows whatever the caller's session or the apply session set:
 * how dates are read ('01/02/2026'), how intervals, floats and bytea become
 * text, what to_tsvector(text) stems with, whether the tables' triggers
 * fire (a superuser's session_replication_role = replica skipped them on
 * the primary, not on its peers).  TimeZone comes from
 * rig.handler_timezone, the three locale settings from rig.handler_locale,
 * search_path from rig.handler_search_path.
 */
static const char *const rig_handler_pinned[][2] = {
	{"DateStyle", "ISO, MDY"},
	{"IntervalStyle", "postgres"},
	{"extra_float_digits", "1"},
	{"bytea_output", "hex"},
	{"default_text_search_config", "pg_catalog.simple"},
	/* a superuser's replica mode skipped the tables' triggers here only */
	{"session_replication_role", "origin"},
	/* how a handler's SQL is parsed ('a\tb', x = NULL) and '{a,NULL}' read */
	{"standard_conforming_strings", "on"},
	{"transform_null_equals", "off"},
	{"array_nulls", "on"},
	/* what '... IST'::timestamptz means, and quote_ident() and format('%I') give */
	{"timezone_abbreviations", "Default"},
	{"quote_all_identifiers", "off"},
	/* how bytea prints inside xml, and what text casts to xml */
	{"xmlbinary", "base64"},
	{"xmloption", "content"},
};

/* The locale settings rig.handler_locale gives handlers */
static const char *const rig_handler_locales[] = {
	"lc_monetary", "lc_numeric", "lc_time",
};

/* Set one of them for the handlers, opening the nest level at the first. */
static void
rig_handler_set(int *nestlevel, const char *name, const char *value)
{
	if (*nestlevel < 0)
		*nestlevel = NewGUCNestLevel();
	(void) set_config_option(name, value, PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/*
 * Switch to the settings handlers run under (rig.handler_search_path,
 * rig.handler_timezone, rig.handler_locale and rig_handler_pinned), those
 * the session does not have already, through a GUC nest level, which an
 * error unwinds with its (sub)transaction: an op switches once for its
 * three handlers (rig_do, a peer's apply, a rebuild), not once per call.
 * Returns what rig_handler_settings_pop() needs (-1: no switch).
 */
int
rig_handler_settings_push(void)
{
	int			nestlevel = -1;

	if (namespace_search_path == NULL ||
		strcmp(namespace_search_path, rig_handler_search_path) != 0)
		rig_handler_set(&nestlevel, "search_path", rig_handler_search_path);
	if (strcmp(GetConfigOption("TimeZone", false, false), rig_handler_timezone) != 0)
		rig_handler_set(&nestlevel, "TimeZone", rig_handler_timezone);
	for (size_t i = 0; i < lengthof(rig_handler_pinned); i++)
		if (strcmp(GetConfigOption(rig_handler_pinned[i][0], false, false),
				   rig_handler_pinned[i][1]) != 0)
			rig_handler_set(&nestlevel, rig_handler_pinned[i][0], rig_handler_pinned[i][1]);
	for (size_t i = 0; i < lengthof(rig_handler_locales); i++)
		if (strcmp(GetConfigOption(rig_handler_locales[i], false, false), rig_handler_locale) != 0)
			rig_handler_set(&nestlevel, rig_handler_locales[i], rig_handler_locale);
	return nestlevel;
}

/* Back to the settings before rig_handler_settings_push() (after success). */
void
rig_handler_settings_pop(int nestlevel)
{
	if (nestlevel >= 0)
		AtEOXact_GUC(true, nestlevel);
}

/*
 * Call a handler function as its owner, with rig.handler_search_path
 * (pg_temp last, the same on every node) rather than the caller's, and
 * restore both on the way out (the search_path through the GUC nesting,
 * which an error unwinds with its (sub)transaction).  While it runs the
 * cache is not rebuilt under it.
 */
Datum
rig_handler_invoke(FunctionCallInfo fcinfo, Oid owner)
{
	Oid			save_userid;
	int			save_sec;
	int			save_nestlevel;
	volatile Datum result = (Datum) 0;

	rig_refuse_temp_objects();
	GetUserIdAndSecContext(&save_userid, &save_sec);
	save_nestlevel = rig_handler_settings_push();
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	rig_handler_depth++;
	PG_TRY();
	{
		result = FunctionCallInvoke(fcinfo);
	}
	PG_FINALLY();
	{
		rig_handler_depth--;
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	rig_handler_settings_pop(save_nestlevel);
	return result;
}

/* Read one row of rig.handlers; false when the method is not registered. */
static bool
rig_load_handler(const char *method, RigHandler *entry)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	Snapshot	snap;
	bool		found = false;

	rig_handlers_relid = rig_relid("handlers");
	rel = table_open(rig_handlers_relid, AccessShareLock);
	ScanKeyInit(&key, Anum_handlers_method, BTEqualStrategyNumber, F_TEXTEQ,
				CStringGetTextDatum(method));
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = systable_beginscan(rel, rig_relid("handlers_pkey"), true, snap, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		TupleDesc	desc = RelationGetDescr(rel);
		bool		isnull;
		Datum		d;

		strlcpy(entry->method, method, sizeof(entry->method));
		entry->apply_oid = DatumGetObjectId(heap_getattr(tup, Anum_handlers_apply, desc, &isnull));
		d = heap_getattr(tup, Anum_handlers_validate, desc, &isnull);
		entry->validate_oid = isnull ? InvalidOid : DatumGetObjectId(d);
		d = heap_getattr(tup, Anum_handlers_resources, desc, &isnull);
		entry->resources_oid = isnull ? InvalidOid : DatumGetObjectId(d);
		found = true;
	}
	systable_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);
	return found;
}

/* Look the functions up once; a dropped function gets a clear error. */
static void
rig_prepare_fmgr(RigHandler *entry)
{
	Oid			oids[3] = {entry->apply_oid, entry->validate_oid, entry->resources_oid};
	FmgrInfo   *infos[3] = {&entry->apply, &entry->validate, &entry->resources};
	Oid		   *owners[3] = {&entry->apply_owner, &entry->validate_owner, &entry->resources_owner};

	for (int i = 0; i < 3; i++)
	{
		if (!OidIsValid(oids[i]))
			continue;
		if (!SearchSysCacheExists1(PROCOID, ObjectIdGetDatum(oids[i])))
		{
			char		method[RIG_MAX_NAME_LEN + 1];

			strlcpy(method, entry->method, sizeof(method));
			hash_search(rig_handler_cache, method, HASH_REMOVE, NULL);
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FUNCTION),
					 errmsg("a handler function of method \"%s\" no longer exists", method),
					 errdetail("Function with OID %u was dropped after it was registered.", oids[i]),
					 errhint("Register the method again with rig_register().")));
		}
		fmgr_info_cxt(oids[i], infos[i], rig_handler_cxt);
		*owners[i] = rig_proc_owner(oids[i]);
	}
	entry->apply_exposed = rig_proc_other_grantee(entry->apply_oid,
												  &entry->apply_grantee);
}

/* Owner of a function. */
static Oid
rig_proc_owner(Oid funcoid)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcoid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", funcoid);
	owner = ((Form_pg_proc) GETSTRUCT(tup))->proowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Does a role other than the function's owner hold EXECUTE on it?  If so,
 * *grantee is one (ACL_ID_PUBLIC for PUBLIC, as for a function without an
 * ACL).
 */
static bool
rig_proc_other_grantee(Oid funcoid, Oid *grantee)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcoid));
	Oid			owner;
	Datum		acldatum;
	bool		isnull;
	Acl		   *acl;
	AclItem    *items;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", funcoid);
	owner = ((Form_pg_proc) GETSTRUCT(tup))->proowner;
	acldatum = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_proacl, &isnull);
	acl = isnull ? acldefault(OBJECT_FUNCTION, owner) : DatumGetAclPCopy(acldatum);
	ReleaseSysCache(tup);

	/* ACL_DAT, spelled out: the macro trips -Wsign-compare; ACLs have no NULLs */
	items = (AclItem *) ((char *) acl + ARR_OVERHEAD_NONULLS(ARR_NDIM(acl)));
	for (int i = 0; i < ACL_NUM(acl); i++)
	{
		if (items[i].ai_grantee != owner &&
			(ACLITEM_GET_PRIVS(items[i]) & ACL_EXECUTE) != 0)
		{
			*grantee = items[i].ai_grantee;
			return true;
		}
	}
	return false;
}

/* A grantee as GRANT and REVOKE spell it. */
static char *
rig_grantee_name(Oid grantee)
{
	if (grantee == ACL_ID_PUBLIC)
		return "PUBLIC";
	return (char *) quote_identifier(GetUserNameFromId(grantee, false));
}

/*
 * Handlers run as their owner: a role other than a superuser may register
 * only functions it owns, or it could run another role's code as that role.
 */
static void
rig_check_handler_owner(Oid funcoid)
{
	if (superuser() || pg_proc_ownercheck(funcoid, GetUserId()))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("must be owner of function %s to register it as a handler",
					format_procedure(funcoid)),
			 errdetail("rig runs handlers as their owner.")));
}

/* Human name of a handler kind, for messages. */
static const char *
rig_kind_name(RigHandlerKind kind)
{
	return kind == RIG_APPLY ? "apply" : kind == RIG_VALIDATE ? "validate" : "resources";
}

/* Check a function against the signature its handler kind requires. */
static void
rig_check_handler_signature(Oid funcoid, RigHandlerKind kind)
{
	HeapTuple	tup;
	Form_pg_proc proc;
	const char *expected;
	bool		ok;

	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcoid));
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("function with OID %u does not exist", funcoid)));
	proc = (Form_pg_proc) GETSTRUCT(tup);

	switch (kind)
	{
		case RIG_APPLY:
			expected = "(version bigint, data jsonb)";
			ok = proc->pronargs == 2 &&
				proc->proargtypes.values[0] == INT8OID &&
				proc->proargtypes.values[1] == JSONBOID;
			break;
		case RIG_VALIDATE:
			expected = "(data jsonb)";
			ok = proc->pronargs == 1 && proc->proargtypes.values[0] == JSONBOID;
			break;
		default:
			expected = "(data jsonb) RETURNS text[]";
			ok = proc->pronargs == 1 && proc->proargtypes.values[0] == JSONBOID &&
				proc->prorettype == TEXTARRAYOID;
			break;
	}
	ok = ok && proc->prokind == PROKIND_FUNCTION && !proc->proretset;
	ReleaseSysCache(tup);

	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
				 errmsg("%s handler %s has the wrong signature",
						rig_kind_name(kind), format_procedure(funcoid)),
				 errdetail("The %s handler must be a plain function %s, not returning a set.",
						   rig_kind_name(kind), expected)));
}

/*
 * Is this rig's own install or update script running (CREATE or ALTER
 * EXTENSION rig)?  It registers the handlers of the reserved methods, on
 * every node alike, locally.
 */
bool
rig_in_own_extension_script(void)
{
	return creating_extension &&
		CurrentExtensionObject == get_extension_oid("rig", true);
}

/*
 * Methods named rig.* are rig's own, registered by its install script
 * (the coordinator's state, coord.c, and the handler and schema change
 * records, sysrec.c): nobody else registers or removes them.
 */
void
rig_check_not_reserved(const char *method)
{
	if (strncmp(method, RIG_SYSTEM_METHOD_PREFIX, strlen(RIG_SYSTEM_METHOD_PREFIX)) != 0 ||
		rig_in_own_extension_script())
		return;
	ereport(ERROR,
			(errcode(ERRCODE_RESERVED_NAME),
			 errmsg("method name \"%s\" is reserved for rig", rig_name_for_message(method)),
			 errdetail("Methods named rig.* are rig's own."),
			 errhint("Choose a method name that does not start with \"rig.\".")));
}

/*
 * Check a registration as the current user would be allowed to make it
 * (rig_register on a primary; a peer applying a rig.register record as its
 * rig.ddl_role): the signatures, search_path and ownership of the
 * functions.  validate and resources may be InvalidOid.
 */
void
rig_handler_check(const char *method, Oid apply, Oid validate, Oid resources)
{
	Oid			oids[3] = {apply, validate, resources};

	rig_check_identifier("method name", method);
	rig_check_not_reserved(method);
	rig_check_handler_signature(apply, RIG_APPLY);
	for (int i = 0; i < 3; i++)
		rig_check_handler_path(oids[i]);
	if (OidIsValid(validate))
		rig_check_handler_signature(validate, RIG_VALIDATE);
	if (OidIsValid(resources))
		rig_check_handler_signature(resources, RIG_RESOURCES);
	for (int i = 0; i < 3; i++)
		if (OidIsValid(oids[i]))
			rig_check_handler_owner(oids[i]);
}

/*
 * Register (or replace) the handlers of a method in rig.handlers, after
 * rig_handler_check(); validate and resources may be InvalidOid.
 */
void
rig_handler_store(const char *method, Oid apply, Oid validate, Oid resources)
{
	Oid			argtypes[4] = {TEXTOID, REGPROCEDUREOID, REGPROCEDUREOID, REGPROCEDUREOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	int			ret;

	values[0] = CStringGetTextDatum(method);
	values[1] = ObjectIdGetDatum(apply);
	values[2] = ObjectIdGetDatum(validate);
	values[3] = ObjectIdGetDatum(resources);
	nulls[2] = OidIsValid(validate) ? ' ' : 'n';
	nulls[3] = OidIsValid(resources) ? ' ' : 'n';

	SPI_connect();
	ret = rig_spi_as_owner("handlers", "INSERT INTO rig.handlers AS h (method, apply, validate, resources) "
							 "VALUES ($1, $2, $3, $4) "
							 "ON CONFLICT (method) DO UPDATE SET apply = EXCLUDED.apply, "
							 "validate = EXCLUDED.validate, resources = EXCLUDED.resources, "
							 "registered_at = now()",
							 4, argtypes, values, nulls);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not register method: SPI error %d", ret);
	rig_make_apply_private(apply, method);
	SPI_finish();

	CacheInvalidateRelcacheByRelid(rig_relid("handlers"));
}

/*
 * Revoke EXECUTE on an apply handler from PUBLIC (inside rig_register's
 * SPI connection), and refuse it if another role still holds EXECUTE.
 */
static void
rig_make_apply_private(Oid funcoid, const char *method)
{
	char	   *sql;
	Oid			grantee;

	sql = psprintf("REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC",
				   format_procedure_qualified(funcoid));
	if (SPI_execute(sql, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not revoke EXECUTE on %s", format_procedure(funcoid));
	CommandCounterIncrement();
	if (rig_proc_other_grantee(funcoid, &grantee))
		rig_exposed_error(funcoid, method, grantee);
}

/* Remove a method from rig.handlers; its log records stay. */
void
rig_handler_remove(const char *method)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(method)};
	int			ret;

	SPI_connect();
	ret = rig_spi_as_owner("handlers", "DELETE FROM rig.handlers WHERE method = $1",
							 1, argtypes, values, NULL);
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "could not unregister method: SPI error %d", ret);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("method \"%s\" is not registered",
						rig_name_for_message(method))));
	SPI_finish();

	CacheInvalidateRelcacheByRelid(rig_relid("handlers"));
}
