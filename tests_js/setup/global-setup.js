/**
 * jest globalSetup: start the real server (setup/server.js), wait for /readyz, and hand
 * its addresses and the fixtures' keys to the test files through a state file named in
 * NM12333_JEST_STATE.
 */
const fs = require('fs')
const path = require('path')
const { start } = require('./server')

module.exports = async function globalSetup() {
  const started = Date.now()
  const { child, state } = await start()
  globalThis.__NM12333_SERVER__ = child
  const file = path.join(state.dataDir, 'jest-state.json')
  fs.writeFileSync(file, JSON.stringify(state, null, 2))
  process.env.NM12333_JEST_STATE = file
  // eslint-disable-next-line no-console
  console.log(`\nserver ready at ${state.baseUrl} in ${((Date.now() - started) / 1000).toFixed(1)} s` +
    ` (data ${state.dataDir}); home-visit route: ${state.homeVisitRoute ? 'served' : 'not served'}`)
}
