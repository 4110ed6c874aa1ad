/**
 * The real server for the journeys: `app.py serve --standins --with-worker` on free
 * ports, with a fresh DATA_DIR (its own embedded database), exactly as `make run` starts
 * it but with APP_ENV=test. Used by global-setup.js and global-teardown.js.
 */
const { spawn, execFile } = require('child_process')
const fs = require('fs')
const http = require('http')
const net = require('net')
const os = require('os')
const path = require('path')

const ROOT = path.resolve(__dirname, '..', '..')
const PYTHON = path.join(ROOT, '.venv', 'bin', 'python')

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

function get(url) {
  return new Promise(resolve => {
    const req = http.get(url, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', chunk => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode, body }))
    })
    req.on('error', () => resolve({ status: 0, body: '' }))
    req.setTimeout(5000, () => req.destroy())
  })
}

async function waitReady(url, child, logFile, seconds) {
  const deadline = Date.now() + seconds * 1000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break
    const answer = await get(url)
    if (answer.status === 200) return
    await new Promise(r => setTimeout(r, 250))
  }
  const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').slice(-4000) : ''
  throw new Error(`the server did not become ready at ${url} (exit code ${child.exitCode})\n${log}`)
}

function command(args, env) {
  return new Promise((resolve, reject) => {
    execFile(PYTHON, ['app.py', ...args], { cwd: ROOT, env, timeout: 120000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`app.py ${args[0]} failed: ${err.message}\n${stderr}`))
      else resolve(stdout)
    })
  })
}

async function start() {
  if (!fs.existsSync(PYTHON)) {
    throw new Error(`${PYTHON} is missing: run \`make setup\` first (it builds .venv and the embedded database)`)
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nm12333-jest-'))
  const [port, wechatPort, aliyunPort] = [await freePort(), await freePort(), await freePort()]
  const env = Object.assign({}, process.env, {
    APP_ENV: 'test',
    DATA_DIR: dataDir,
    PORT: String(port),
    WECHAT_BASE_URL: `http://127.0.0.1:${wechatPort}`,
    ALIYUN_SMS_ENDPOINT: `http://127.0.0.1:${aliyunPort}`,
    // Messages go out at once whatever the hour (equal times hold nothing).
    QUIET_HOURS: '00:00-00:00',
    LOG_LEVEL: 'WARNING',
    FACE_POOL_WORKERS: '1',
  })
  delete env.MONGODB_URI
  const logFile = path.join(dataDir, 'server.log')
  const log = fs.openSync(logFile, 'a')
  const child = spawn(PYTHON, ['app.py', 'serve', '--standins', '--with-worker', '--port', String(port)], {
    cwd: ROOT, env, stdio: ['ignore', log, log],
  })
  const base = `http://127.0.0.1:${port}`
  try {
    await waitReady(`${base}/readyz`, child, logFile, 180)
    // An institution key for the feeds the journeys start from (the registry, the card
    // maker) and for a service point scanning the electronic card code.
    const keyOut = await command(['create-service-key', '--name', 'jest-feeds',
      '--scope', 'registry.feed', '--scope', 'card.feed', '--scope', 'card.verify'], env)
    const serviceKey = keyOut.trim().split('\n').pop().trim()
    // A 12333 agent of Hohhot (activates cards at the bank window in these journeys).
    const agentPassword = 'jest-agent-password-0123'
    const agentOut = await command(['create-agent', '--username', 'jest.agent', '--name', '王坐席',
      '--regions', '150100'], Object.assign({}, env, { AGENT_PASSWORD: agentPassword }))
    const lines = agentOut.trim().split('\n')
    const secretLine = lines.findIndex(l => l.startsWith('TOTP secret'))
    const agentTotpSecret = lines[secretLine + 1].trim()
    // Whether the home-visit booking route is served yet (it is being built): the
    // OpenAPI document lists every route the server mounts.
    const doc = await get(`${base}/openapi.json`)
    let homeVisitRoute = false
    try {
      const paths = JSON.parse(doc.body).paths || {}
      homeVisitRoute = !!(paths['/v1/pension/home-visits'] && paths['/v1/pension/home-visits'].post)
    } catch (e) {
      homeVisitRoute = false
    }
    return {
      pid: child.pid,
      child,
      state: {
        baseUrl: base,
        wechatUrl: env.WECHAT_BASE_URL,
        aliyunUrl: env.ALIYUN_SMS_ENDPOINT,
        dataDir,
        logFile,
        serviceKey,
        agent: { username: 'jest.agent', password: agentPassword, totpSecret: agentTotpSecret },
        homeVisitRoute,
      },
    }
  } catch (err) {
    child.kill('SIGKILL')
    throw err
  }
}

function stop(child, seconds = 30) {
  return new Promise(resolve => {
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      resolve()
      return
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), seconds * 1000)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill('SIGTERM')
  })
}

module.exports = { start, stop, ROOT }
