/**
 * The mini-program on a simulated phone: miniprogram-simulate renders the real pages
 * (WXML, WXSS, JS from miniapp_stub/) into jsdom, and `wx.*` is a shim for the platform
 * only — nothing of the server is mocked:
 *
 * - wx.request makes real HTTP requests to the running server (Node's http module),
 *   refusing the methods WeChat's wx.request cannot send (PATCH);
 * - wx.login gets a one-time code minted by the WeChat stand-in (/_control/login_code);
 * - wx.requestSubscribeMessage records the person's "accept" at the WeChat stand-in;
 * - wx.requestFacialVerify tells the WeChat stand-in what happened on the phone
 *   (/_control/face_verify); the page never learns the verdict from it;
 * - wx.createCanvasContext records what is drawn, so a test can rasterise and scan it;
 * - storage, dialogs and navigation are kept per phone ("device").
 *
 * Several people in one journey each get a Device (own storage, app instance, openid).
 */
const http = require('http')
const path = require('path')
const simulate = require('miniprogram-simulate')
const { state, request } = require('./http')

const ROOT = path.resolve(__dirname, '..', '..')
const MINIAPP = path.join(ROOT, 'miniapp_stub')
const WX_METHODS = ['OPTIONS', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'TRACE', 'CONNECT']

let appOptions = null
let current = null
let inflight = 0
let openidCounter = 0

// -- the phone ------------------------------------------------------------------------

class Device {
  constructor(name) {
    openidCounter += 1
    this.name = name
    this.openid = `o-jest-${process.pid}-${Date.now().toString(36)}-${openidCounter}`
    this.storage = new Map()
    this.navigations = []
    this.modals = []
    this.toasts = []
    this.subscribeRequests = []
    this.faceVerifications = []
    this.canvases = {}
    this.requests = []
    this.log = [] // everything the page asked of the platform, in order
    this.modalAnswer = true
    this.faceVerdict = 10000 // WeChat's verify_ret for a pass
    this.app = makeApp()
  }
}

function makeApp() {
  const app = {}
  for (const key of Object.keys(appOptions)) {
    const value = appOptions[key]
    app[key] = typeof value === 'function' ? value : JSON.parse(JSON.stringify(value))
  }
  app.globalData.baseUrl = state().baseUrl
  return app
}

/** A new phone, switched to, with the app launched on it. */
function newDevice(name = 'phone') {
  const device = new Device(name)
  use(device)
  device.app.onLaunch()
  return device
}

function use(device) {
  current = device
  return device
}

function device() {
  return current
}

// -- wx.* shim ----------------------------------------------------------------------------

function later(fn) {
  setTimeout(fn, 0)
}

function done(options, result, ok = true) {
  later(() => {
    if (ok && options.success) options.success(result)
    if (!ok && options.fail) options.fail(result)
    if (options.complete) options.complete(result)
  })
}

function tracked(promise) {
  inflight += 1
  return promise.finally(() => {
    inflight -= 1
  })
}

function headerObject(raw) {
  const out = {}
  for (let i = 0; i < raw.length; i += 2) out[raw[i]] = raw[i + 1]
  return out
}

function wxRequest(options) {
  const method = String(options.method || 'GET').toUpperCase()
  const dev = current
  if (WX_METHODS.indexOf(method) < 0) {
    done(options, { errMsg: `request:fail method ${method} is not supported` }, false)
    return { abort() {} }
  }
  let url = options.url
  const headers = Object.assign({}, options.header)
  const contentType = Object.keys(headers).find(k => k.toLowerCase() === 'content-type')
  let body
  if (options.data !== undefined && options.data !== null) {
    if (method === 'GET') {
      const qs = Object.keys(options.data).map(k => `${encodeURIComponent(k)}=${encodeURIComponent(options.data[k])}`).join('&')
      if (qs) url += (url.indexOf('?') >= 0 ? '&' : '?') + qs
    } else if (typeof options.data === 'string') {
      body = options.data
    } else {
      body = JSON.stringify(options.data)
    }
  }
  if (!contentType) headers['content-type'] = 'application/json' // WeChat's default
  const record = { method, url, headers, body }
  dev.requests.push(record)
  dev.log.push({ type: 'request', method, url })
  const work = new Promise(resolve => {
    const req = http.request(url, { method, headers, timeout: options.timeout || 60000, agent: false }, res => {
      const chunks = []
      res.on('data', c => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let data = text
        if ((options.dataType || 'json') === 'json') {
          try {
            data = JSON.parse(text)
          } catch (e) {
            data = text
          }
        }
        record.status = res.statusCode
        record.response = data
        const result = { data, statusCode: res.statusCode, header: headerObject(res.rawHeaders), cookies: [], errMsg: 'request:ok' }
        if (options.success) options.success(result)
        if (options.complete) options.complete(result)
        resolve()
      })
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', err => {
      const result = { errMsg: `request:fail ${err.message}` }
      if (options.fail) options.fail(result)
      if (options.complete) options.complete(result)
      resolve()
    })
    if (body !== undefined) req.write(body)
    req.end()
  })
  tracked(work)
  return { abort() {} }
}

function control(base, what, json) {
  return request('POST', `${base}/_control/${what}`, { json })
}

function wxLogin(options) {
  const dev = current
  dev.log.push({ type: 'login' })
  tracked(control(state().wechatUrl, 'login_code', { openid: dev.openid })
    .then(answer => done(options, { code: answer.json.code, errMsg: 'login:ok' }))
    .catch(err => done(options, { errMsg: `login:fail ${err.message}` }, false)))
}

function wxRequestSubscribeMessage(options) {
  const dev = current
  const ids = options.tmplIds || []
  dev.subscribeRequests.push(ids.slice())
  dev.log.push({ type: 'requestSubscribeMessage', tmplIds: ids.slice() })
  tracked(Promise.all(ids.map(id => control(state().wechatUrl, 'subscriptions', {
    openid: dev.openid, template_id: id, count: 1,
  }))).then(() => {
    const result = { errMsg: 'requestSubscribeMessage:ok' }
    for (const id of ids) result[id] = 'accept'
    done(options, result)
  }).catch(err => done(options, { errMsg: `requestSubscribeMessage:fail ${err.message}` }, false)))
}

function wxRequestFacialVerify(options) {
  const dev = current
  const verifyId = options.verifyId
  dev.faceVerifications.push({ verifyId, verdict: dev.faceVerdict })
  dev.log.push({ type: 'requestFacialVerify', verifyId })
  tracked(control(state().wechatUrl, 'face_verify', { verify_id: verifyId, verify_ret: dev.faceVerdict })
    .then(answer => {
      if (answer.status === 200) done(options, { errMsg: 'requestFacialVerify:ok', verifyResult: `opaque-${Date.now()}` })
      else done(options, { errMsg: 'requestFacialVerify:fail', errCode: 90100 }, false)
    })
    .catch(() => done(options, { errMsg: 'requestFacialVerify:fail', errCode: 90100 }, false)))
}

/** A canvas context that records its drawing, for rasterising in the test. */
function wxCreateCanvasContext(canvasId) {
  const dev = current
  const ops = []
  let fill = '#000000'
  const ctx = {
    setFillStyle(style) { fill = style },
    set fillStyle(style) { fill = style },
    get fillStyle() { return fill },
    fillRect(x, y, w, h) { ops.push({ fill, x, y, w, h }) },
    draw(reserve, callback) {
      dev.canvases[canvasId] = { ops: ops.slice(), drawnAt: Date.now() }
      if (typeof callback === 'function') later(callback)
    },
  }
  for (const noop of ['beginPath', 'closePath', 'stroke', 'fill', 'rect', 'clearRect', 'setStrokeStyle', 'setLineWidth', 'fillText', 'setFontSize', 'save', 'restore', 'scale', 'translate']) {
    ctx[noop] = () => {}
  }
  return ctx
}

function install() {
  global.App = options => {
    appOptions = options
  }
  global.getApp = () => (current ? current.app : undefined)
  // The mini-program's modules are required the way WeChat loads them.
  // eslint-disable-next-line global-require, import/no-dynamic-require
  require(path.join(MINIAPP, 'app.js'))
  Object.assign(global.wx, {
    request: wxRequest,
    login: wxLogin,
    requestSubscribeMessage: wxRequestSubscribeMessage,
    requestFacialVerify: wxRequestFacialVerify,
    createCanvasContext: wxCreateCanvasContext,
    getStorageSync: key => (current.storage.has(key) ? JSON.parse(current.storage.get(key)) : ''),
    setStorageSync: (key, value) => { current.storage.set(key, JSON.stringify(value)) },
    removeStorageSync: key => { current.storage.delete(key) },
    clearStorageSync: () => current.storage.clear(),
    showModal: options => {
      current.modals.push({ title: options.title, content: options.content })
      const confirm = !!current.modalAnswer
      done(options, { confirm, cancel: !confirm, errMsg: 'showModal:ok' })
    },
    showToast: options => { current.toasts.push(options.title); done(options, { errMsg: 'showToast:ok' }) },
    showLoading: options => done(options, { errMsg: 'showLoading:ok' }),
    hideLoading: options => done(options || {}, { errMsg: 'hideLoading:ok' }),
    navigateTo: options => { current.navigations.push({ type: 'navigateTo', url: options.url }); done(options, { errMsg: 'navigateTo:ok' }) },
    redirectTo: options => { current.navigations.push({ type: 'redirectTo', url: options.url }); done(options, { errMsg: 'redirectTo:ok' }) },
    reLaunch: options => { current.navigations.push({ type: 'reLaunch', url: options.url }); done(options, { errMsg: 'reLaunch:ok' }) },
    navigateBack: options => { current.navigations.push({ type: 'navigateBack' }); done(options || {}, { errMsg: 'navigateBack:ok' }) },
    createInnerAudioContext: () => ({ play() {}, stop() {}, onEnded() {}, onError() {}, destroy() {} }),
  })
}

// -- pages ----------------------------------------------------------------------------------

const loaded = {}
const opened = []

function sleep(ms) {
  return new Promise(r => setTimeout(r, ms))
}

/** Wait until no request is in flight (and stays so for a moment) and the page is idle. */
async function settle(page, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs
  let quiet = 0
  while (Date.now() < deadline) {
    await sleep(15)
    const busy = inflight > 0 || (page && page.data.busy)
    quiet = busy ? 0 : quiet + 1
    if (quiet >= 4) return
  }
  throw new Error(`still busy after ${timeoutMs} ms (requests in flight: ${inflight})`)
}

async function waitFor(predicate, what, timeoutMs = 20000, page = null) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await predicate()) return
    await sleep(25)
  }
  const detail = page ? `\npage data: ${JSON.stringify(page.data).slice(0, 1500)}\npage text: ${page.text().slice(0, 800)}` : ''
  throw new Error(`timed out waiting for: ${what}${detail}`)
}

class Page {
  constructor(route, comp) {
    this.route = route
    this.comp = comp
  }

  get data() {
    return this.comp.instance.data
  }

  get instance() {
    return this.comp.instance
  }

  get dom() {
    return this.comp.dom
  }

  text() {
    return this.comp.dom.textContent.replace(/\s+/g, ' ')
  }

  /** The j-component node for a selector (#id or .class), or null. */
  find(selector) {
    return this.comp.querySelector(selector) || null
  }

  findAll(selector) {
    return this.comp.querySelectorAll(selector)
  }

  textOf(selector) {
    const node = this.find(selector)
    return node ? node.dom.textContent.replace(/\s+/g, ' ').trim() : null
  }

  must(selector) {
    const node = this.find(selector)
    if (!node) {
      const ids = Array.from(this.comp.dom.querySelectorAll('[id]')).map(n => `#${n.id}`).join(' ')
      throw new Error(`${this.route}: nothing matches ${selector} (step ${this.data.step || this.data.screen}; ids on screen: ${ids})`)
    }
    return node
  }

  /** Tap, then wait for what the tap started (its requests) to finish. */
  async tap(selector, { index = null } = {}) {
    const node = index === null ? this.must(selector) : this.findAll(selector)[index]
    if (!node) throw new Error(`${this.route}: no ${selector}[${index}]`)
    node.dispatchEvent('tap')
    await settle(this)
  }

  async input(selector, value) {
    this.must(selector).dispatchEvent('input', { detail: { value } })
    await settle(this)
  }

  async change(selector, value) {
    this.must(selector).dispatchEvent('change', { detail: { value } })
    await settle(this)
  }

  async event(selector, name, detail) {
    this.must(selector).dispatchEvent(name, { detail })
    await settle(this)
  }

  async waitFor(predicate, what, timeoutMs) {
    return waitFor(() => predicate(this), what, timeoutMs, this)
  }

  close() {
    const at = opened.indexOf(this)
    if (at < 0) return
    opened.splice(at, 1)
    if (this.instance.onUnload) this.instance.onUnload()
    this.comp.detach()
  }
}

let shared = null

/**
 * The custom components every page uses, registered once per test file: the simulator
 * runs a component's JS through `require`, which jest caches, so a second registration
 * would find no definition. Pages get them by id; their styles are put in once.
 */
function sharedComponents() {
  if (shared) return shared
  shared = {}
  for (const name of ['speak-button', 'notice', 'acting-banner']) {
    const id = simulate.load(path.join(MINIAPP, 'components', name, 'index'), name, {
      compiler: 'simulate', rootPath: MINIAPP,
    })
    simulate.render(id) // inserts the component's stylesheet into the document
    shared[name] = id
  }
  return shared
}

/** Open a page as WeChat would: render, then onLoad(query) and onShow, and let it load. */
async function open(route, query = {}) {
  const file = path.join(MINIAPP, route)
  if (!loaded[route]) {
    loaded[route] = simulate.load(file, {
      compiler: 'simulate', rootPath: MINIAPP, usingComponents: Object.assign({}, sharedComponents()),
    })
  }
  const comp = simulate.render(loaded[route])
  const parent = document.createElement('div')
  document.body.appendChild(parent)
  comp.attach(parent)
  const page = new Page(route, comp)
  opened.push(page)
  if (page.instance.onLoad) await page.instance.onLoad(query)
  if (page.instance.onShow) await page.instance.onShow()
  await settle(page)
  return page
}

function closeAll() {
  while (opened.length) {
    const page = opened[opened.length - 1]
    try {
      page.close()
    } catch (e) {
      opened.splice(opened.indexOf(page), 1)
    }
  }
}

/** The last place a page sent the person (navigateTo / redirectTo / reLaunch). */
function lastNavigation() {
  return current.navigations[current.navigations.length - 1] || null
}

module.exports = {
  install, newDevice, use, device, open, closeAll, settle, waitFor, sleep, lastNavigation, MINIAPP, WX_METHODS,
}
