/** jest globalTeardown: stop the server this run started, and remove its data folder. */
const fs = require('fs')
const { stop } = require('./server')

module.exports = async function globalTeardown() {
  const child = globalThis.__NM12333_SERVER__
  await stop(child)
  const file = process.env.NM12333_JEST_STATE
  if (file && fs.existsSync(file)) {
    const { dataDir } = JSON.parse(fs.readFileSync(file, 'utf8'))
    if (process.env.NM12333_KEEP_DATA) return
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
}
