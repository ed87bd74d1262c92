// Starts a local atproto network (PLC + PDS + AppView + bsync + Ozone) on local ports and
// prints ONE JSON line {"ready":true,...urls} once it is ready. Stop it with SIGTERM or SIGINT.
// Env: DB_POSTGRES_URL (required), DB_POSTGRES_SCHEMA (unique per run, only [a-z_]),
//      REDIS_HOST (must be set, never contacted),
//      PLC_PORT / PDS_PORT / BSKY_PORT / OZONE_PORT (optional; a free random port when unset).
// The recipe follows the @atproto/dev-env package (npm) and its TestNetwork API; see tests/bsky/bsky_network.py.
import { TestNetwork } from '@atproto/dev-env'

const t0 = Date.now()
// Only pass `port` when it is set: an explicit `port: undefined` overrides dev-env's own choice
// and then the AppView subscribes to the wrong PDS port.
const withPort = (name, extra = {}) =>
  process.env[name] ? { ...extra, port: Number(process.env[name]) } : extra
const network = await TestNetwork.create({
  dbPostgresSchema: process.env.DB_POSTGRES_SCHEMA || 'bskytest',
  plc: withPort('PLC_PORT'),
  pds: withPort('PDS_PORT', { hostname: 'localhost' }),
  bsky: withPort('BSKY_PORT'),
  ozone: withPort('OZONE_PORT', { chatUrl: 'http://localhost:2590', chatDid: 'did:example:chat' }),
})
console.log(JSON.stringify({
  ready: true, startup_ms: Date.now() - t0, pid: process.pid,
  plc: network.plc.url, pds: network.pds.url, appview: network.bsky.url,
  ozone: network.ozone.url, admin_password: 'admin-pass',
}))
let closing = false
const stop = async () => {
  if (closing) return
  closing = true
  try { await network.close() } finally { process.exit(0) }
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
// STOP_ON_STDIN_EOF=1 (set by bsky_network.py, which keeps a pipe open): if the parent dies without
// signalling us (SIGKILL, crash), the pipe closes and the network stops instead of lingering.
if (process.env.STOP_ON_STDIN_EOF === '1') {
  process.stdin.on('end', stop)
  process.stdin.on('error', stop)
  process.stdin.resume()
}
