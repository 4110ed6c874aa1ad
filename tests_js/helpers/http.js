/** Plain HTTP from the tests to the server and its stand-ins (fixtures and checks). */
const http = require('http')
const fs = require('fs')

function state() {
  const file = process.env.NM12333_JEST_STATE
  if (!file || !fs.existsSync(file)) throw new Error('no server state: run the tests with `npm test` (jest globalSetup starts the server)')
  return JSON.parse(fs.readFileSync(file, 'utf8'))
}

function request(method, url, { json, headers } = {}) {
  return new Promise((resolve, reject) => {
    const body = json === undefined ? undefined : Buffer.from(JSON.stringify(json))
    const all = Object.assign({}, headers)
    if (body) {
      all['Content-Type'] = 'application/json'
      all['Content-Length'] = body.length
    }
    const req = http.request(url, { method, headers: all, timeout: 30000, agent: false }, res => {
      const chunks = []
      res.on('data', c => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let parsed = null
        try {
          parsed = text ? JSON.parse(text) : null
        } catch (e) {
          parsed = null
        }
        resolve({ status: res.statusCode, headers: res.headers, text, json: parsed })
      })
    })
    req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${url}`)))
    req.on('error', reject)
    if (body) req.write(body)
    req.end()
  })
}

module.exports = { state, request }
