/*-------------------------------------------------------------------------
 *
 * handlers.c
 *	  The handler registry: rig_register(), rig_unregister() and the
 *	  per-process cache that rig_do() looks methods up in.
 *
 * Handlers are rows of rig.handlers.  Each process caches a method's
 * FmgrInfos the first time it is used; rig_register() and
 * rig_unregister() send a relcache invalidation for rig.handlers at
 * commit, and any change to pg_proc flushes the cache too, so a redefined
 * or dropped function is never called through a stale entry.
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
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/regproc.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "rig.h"

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
static bool rig_handler_cache_stale = false;
static Oid	rig_handlers_relid = InvalidOid;	/* as of the last load */

static void rig_handlers_relcache_cb(Datum arg, Oid relid);
static void rig_handlers_proc_cb(Datum arg, int cacheid, uint32 hashvalue);
static bool rig_load_handler(const char *method, RigHandler *entry);
static void rig_check_handler_signature(Oid funcoid, RigHandlerKind kind);
static void rig_prepare_fmgr(RigHandler *entry);
static void rig_check_execute(RigHandler *entry);

PG_FUNCTION_INFO_V1(rig_register);
PG_FUNCTION_INFO_V1(rig_unregister);

/* Invalidate the cache on registry changes and on any function change. */
void
rig_handlers_init(void)
{
	CacheRegisterRelcacheCallback(rig_handlers_relcache_cb, (Datum) 0);
	CacheRegisterSyscacheCallback(PROCOID, rig_handlers_proc_cb, (Datum) 0);
	/* role membership decides EXECUTE rights too */
	CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, rig_handlers_proc_cb, (Datum) 0);
	rig_catalog_init();
}

/* Relcache callback: the registry (or everything) changed. */
static void
rig_handlers_relcache_cb(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || !OidIsValid(rig_handlers_relid) ||
		relid == rig_handlers_relid)
		rig_handler_cache_stale = true;
}

/* Syscache callback: a function or a role membership changed. */
static void
rig_handlers_proc_cb(Datum arg, int cacheid, uint32 hashvalue)
{
	rig_handler_cache_stale = true;
}

/* Handler of method, from the cache or rig.handlers; NULL when unknown. */
RigHandler *
rig_lookup_handler(const char *method)
{
	RigHandler *entry;
	bool		found;

	if (rig_handler_cache == NULL || rig_handler_cache_stale)
	{
		HASHCTL		ctl;

		if (rig_handler_cache != NULL)
			hash_destroy(rig_handler_cache);
		ctl.keysize = RIG_MAX_METHOD_LEN + 1;
		ctl.entrysize = sizeof(RigHandler);
		ctl.hcxt = CacheMemoryContext;
		rig_handler_cache = hash_create("rig handlers", 64, &ctl,
										HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
		rig_handler_cache_stale = false;
	}

	if (strlen(method) > RIG_MAX_METHOD_LEN)
		return NULL;

	entry = hash_search(rig_handler_cache, method, HASH_FIND, &found);
	if (!found)
	{
		RigHandler	loaded;

		memset(&loaded, 0, sizeof(loaded));
		if (!rig_load_handler(method, &loaded))
			return NULL;
		entry = hash_search(rig_handler_cache, method, HASH_ENTER, &found);
		memcpy(entry, &loaded, sizeof(RigHandler));
		rig_prepare_fmgr(entry);
	}
	rig_check_execute(entry);
	return entry;
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

	for (int i = 0; i < 3; i++)
	{
		if (!OidIsValid(oids[i]))
			continue;
		if (!SearchSysCacheExists1(PROCOID, ObjectIdGetDatum(oids[i])))
		{
			char		method[RIG_MAX_METHOD_LEN + 1];

			strlcpy(method, entry->method, sizeof(method));
			hash_search(rig_handler_cache, method, HASH_REMOVE, NULL);
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FUNCTION),
					 errmsg("a handler function of method \"%s\" no longer exists", method),
					 errdetail("Function with OID %u was dropped after it was registered.", oids[i]),
					 errhint("Register the method again with rig_register().")));
		}
		fmgr_info_cxt(oids[i], infos[i], CacheMemoryContext);
	}
	entry->checked_user = InvalidOid;
	entry->valid = true;
}

/* The caller of rig_do must be allowed to run every handler it triggers. */
static void
rig_check_execute(RigHandler *entry)
{
	Oid			user = GetUserId();
	Oid			oids[3] = {entry->apply_oid, entry->validate_oid, entry->resources_oid};

	if (entry->checked_user == user)
		return;
	for (int i = 0; i < 3; i++)
	{
		if (OidIsValid(oids[i]) &&
			pg_proc_aclcheck(oids[i], user, ACL_EXECUTE) != ACLCHECK_OK)
			aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_FUNCTION, get_func_name(oids[i]));
	}
	entry->checked_user = user;
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

/* SQL: register (or replace) the handlers of a method. */
Datum
rig_register(PG_FUNCTION_ARGS)
{
	text	   *method;
	Oid			argtypes[4] = {TEXTOID, REGPROCEDUREOID, REGPROCEDUREOID, REGPROCEDUREOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	int			ret;

	rig_check_database();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("method must not be NULL")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("apply handler must not be NULL"),
				 errhint("Every method needs an apply function (version bigint, data jsonb).")));
	method = PG_GETARG_TEXT_PP(0);
	rig_check_identifier("method name", text_to_cstring(method));
	rig_check_handler_signature(PG_GETARG_OID(1), RIG_APPLY);
	if (!PG_ARGISNULL(2))
		rig_check_handler_signature(PG_GETARG_OID(2), RIG_VALIDATE);
	if (!PG_ARGISNULL(3))
		rig_check_handler_signature(PG_GETARG_OID(3), RIG_RESOURCES);

	for (int i = 0; i < 4; i++)
	{
		values[i] = PG_GETARG_DATUM(i);
		if (PG_ARGISNULL(i))
			nulls[i] = 'n';
	}

	SPI_connect();
	ret = SPI_execute_with_args("INSERT INTO rig.handlers AS h (method, apply, validate, resources) "
								"VALUES ($1, $2, $3, $4) "
								"ON CONFLICT (method) DO UPDATE SET apply = EXCLUDED.apply, "
								"validate = EXCLUDED.validate, resources = EXCLUDED.resources, "
								"registered_at = now()",
								4, argtypes, values, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not register method: SPI error %d", ret);
	SPI_finish();

	CacheInvalidateRelcacheByRelid(rig_relid("handlers"));
	PG_RETURN_VOID();
}

/* SQL: remove a method; its log records stay. */
Datum
rig_unregister(PG_FUNCTION_ARGS)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	int			ret;

	rig_check_database();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("method must not be NULL")));
	values[0] = PG_GETARG_DATUM(0);

	SPI_connect();
	ret = SPI_execute_with_args("DELETE FROM rig.handlers WHERE method = $1",
								1, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "could not unregister method: SPI error %d", ret);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("method \"%s\" is not registered", TextDatumGetCString(values[0]))));
	SPI_finish();

	CacheInvalidateRelcacheByRelid(rig_relid("handlers"));
	PG_RETURN_VOID();
}
