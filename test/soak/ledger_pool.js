// test/soak/ledger_pool.js: a node-postgres soak of the ledger example
// (examples/ledger.sql) as an application runs it: a pool of CLIENTS (16)
// connections makes ledger.transfer() calls for SECS (60) seconds, each
// retried with the same id while its error is transient (08, 40, 57P, RG
// or no SQLSTATE: the connection broke).  Kill the primary or its sync
// peer (-9) meanwhile and restart it.  At the end it checks, on PRIMARY
// and on each of REPLICAS: every acknowledged transfer is there with the
// version its client was told, no transfer id was applied twice, nothing
// is left prepared, ledger.check() is empty; it prints the errors the
// clients saw by SQLSTATE.  Not run by the test suite (it needs node).
//
//   npm install pg
//   PRIMARY='postgres://...' REPLICAS='postgres://...' ACCOUNTS=100 node ledger_pool.js
//
// Accounts 1..ACCOUNTS (no limits) must be open on the primary.
const { Pool, Client } = require('pg');
const env = process.env;
const secs = +(env.SECS || 60), clients = +(env.CLIENTS || 16), accounts = +(env.ACCOUNTS || 100);
const idBase = +(env.ID_BASE || Date.now() * 1000);
const pool = new Pool({ connectionString: env.PRIMARY, max: clients, connectionTimeoutMillis: 5000 });
const errors = {}, acked = new Map();
const seen = (e) => { const k = `${e.code || '(no SQLSTATE)'} ${e.message.replace(/[0-9]{3,}/g, 'N')}`; errors[k] = (errors[k] || 0) + 1; };
pool.on('error', seen);
const transient = (e) => !e.code || !/^[0-9A-Z]{5}$/.test(e.code) || /^(08|40|57P|RG)/.test(e.code);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const end = Date.now() + secs * 1000;

async function worker(w) {
  for (let n = 0; Date.now() < end; n++) {
    const id = idBase + w * 10000000 + n;
    const dr = 1 + Math.floor(Math.random() * accounts);
    const cr = 1 + ((dr + Math.floor(Math.random() * (accounts - 1))) % accounts);
    const data = { id, debit_account: dr, credit_account: cr, amount: 1 + Math.floor(Math.random() * 100), ledger: 1 };
    for (const deadline = Date.now() + 120000; ;) {
      try {
        const r = await pool.query("SELECT ledger.transfer($1) ->> 'version' AS v", [data]);
        acked.set(id, r.rows[0].v);
        break;
      } catch (e) {
        seen(e);
        if (!transient(e) || Date.now() > deadline) break;
        await sleep(100);
      }
    }
  }
}

async function check(url) {
  const c = new Client({ connectionString: url });
  await c.connect();
  const ids = [...acked.keys()], versions = [...acked.values()];
  const q = async (sql, p) => (await c.query(sql, p)).rows[0].n;
  const out = {
    node: (await c.query('SELECT rig_node_info() AS i')).rows[0].i,
    acked_missing: await q(`SELECT count(*) AS n FROM unnest($1::bigint[], $2::bigint[]) a(id, v)
                            WHERE NOT EXISTS (SELECT FROM ledger.transfers t WHERE t.id = a.id AND t.version = a.v)`, [ids, versions]),
    applied_twice: await q(`SELECT count(*) AS n FROM (SELECT data->>'id' FROM rig.log WHERE method = 'transfer'
                            GROUP BY 1 HAVING count(*) > 1) d`),
    prepared: await q('SELECT count(*) AS n FROM pg_prepared_xacts'),
    check_problems: await q('SELECT count(*) AS n FROM ledger.check()'),
  };
  await c.end();
  return out;
}

(async () => {
  await Promise.all(Array.from({ length: clients }, (_, w) => worker(w)));
  await pool.end();
  console.log(`${acked.size} transfers acknowledged in ${secs} s; errors the clients saw:`);
  for (const [k, v] of Object.entries(errors).sort((a, b) => b[1] - a[1])) console.log(`  ${v} x ${k}`);
  await sleep(+(env.SETTLE_MS || 5000));   // the worker resolves what is in doubt
  for (const url of [env.PRIMARY, ...(env.REPLICAS ? env.REPLICAS.split(',') : [])])
    console.log(JSON.stringify(await check(url)));
})().catch((e) => { console.error(e); process.exit(1); });
