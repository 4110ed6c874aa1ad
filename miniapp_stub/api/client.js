/**
 * The API as the mini-program calls it: wx.request underneath, typed against the
 * generated contract (./types.d.ts, from /openapi.json; `make types` regenerates it).
 *
 * - Every call sends `Authorization: Bearer <access token>` (except the logins) and
 *   refreshes the tokens once on a 401 (refresh tokens are single use and rotated).
 * - Creates send an `Idempotency-Key` (the caller passes one per action and reuses it
 *   when retrying the same action); updates of versioned records send `If-Match` with
 *   the ETag read before.
 * - A refusal becomes an ApiError whose `message` is plain Chinese for the person,
 *   saying what to do next (the server's envelope {"error": {"code", "message",
 *   "request_id"}} first, ./messages.js otherwise).
 *
 * @typedef {import('./types').components['schemas']['LoginAnswer']} LoginAnswer
 * @typedef {import('./types').components['schemas']['AccountView']} AccountView
 * @typedef {import('./types').components['schemas']['PersonView']} PersonView
 * @typedef {import('./types').components['schemas']['RealNameCodeSent']} RealNameCodeSent
 * @typedef {import('./types').components['schemas']['FamilyLinks']} FamilyLinks
 * @typedef {import('./types').components['schemas']['FamilyLinkView']} FamilyLinkView
 * @typedef {import('./types').components['schemas']['FamilyInvite']} FamilyInvite
 * @typedef {import('./types').components['schemas']['Inbox']} Inbox
 * @typedef {import('./types').components['schemas']['CertStatusView']} CertStatusView
 * @typedef {import('./types').components['schemas']['ConsentView']} ConsentView
 * @typedef {import('./types').components['schemas']['ConsentDecision']} ConsentDecision
 * @typedef {import('./types').components['schemas']['ConsentRecorded']} ConsentRecorded
 * @typedef {import('./types').components['schemas']['ConsentNotice']} ConsentNotice
 * @typedef {import('./types').components['schemas']['WeChatFaceStarted']} WeChatFaceStarted
 * @typedef {import('./types').components['schemas']['CheckOutcome']} CheckOutcome
 * @typedef {import('./types').components['schemas']['FilingRequest']} FilingRequest
 * @typedef {import('./types').components['schemas']['FilingChange']} FilingChange
 * @typedef {import('./types').components['schemas']['FilingView']} FilingView
 * @typedef {import('./types').components['schemas']['FilingList']} FilingList
 * @typedef {import('./types').components['schemas']['FilingGuide']} FilingGuide
 * @typedef {import('./types').components['schemas']['CardList']} CardList
 * @typedef {import('./types').components['schemas']['CardView']} CardView
 * @typedef {import('./types').components['schemas']['CardEventRequest']} CardEventRequest
 * @typedef {import('./types').components['schemas']['ECodeSmsSent']} ECodeSmsSent
 * @typedef {import('./types').components['schemas']['ECode']} ECode
 * @typedef {import('./types').components['schemas']['ServicePointList']} ServicePointList
 * @typedef {import('./types').components['schemas']['ErrorEnvelope']} ErrorEnvelope
 *
 * @typedef {import('./types').components['schemas']['VisitRequest']} VisitRequest
 * @typedef {import('./types').components['schemas']['VisitView']} VisitView
 */

/**
 * An answer with its status and ETag (for the next If-Match).
 * @template T
 * @typedef {{data: T, status: number, etag: string|undefined}} Answer
 */

/**
 * @typedef {object} CallOptions
 * @property {Record<string, any>} [query] query parameters (empty ones are left out)
 * @property {any} [body] the JSON body
 * @property {string} [key] the Idempotency-Key of a create
 * @property {string} [ifMatch] the ETag of the record an update read
 * @property {boolean} [auth] send the access token (default true)
 * @property {boolean} [text] the answer is a page, not JSON
 */
const { config } = require('../config')
const session = require('../utils/session')
const { plainMessage } = require('./messages')

/** The methods wx.request can send (object.method's legal values). PATCH is not one. */
const WX_METHODS = ['OPTIONS', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'TRACE', 'CONNECT']

class ApiError extends Error {
  /**
   * @param {{status: number, code: string, message: string, requestId?: string|null,
   *   retryAfter?: number|null, field?: string|null, details?: any}} fields
   */
  constructor({ status, code, message, requestId, retryAfter, field, details }) {
    super(message)
    this.name = 'ApiError'
    /** HTTP status; 0 when nothing came back */
    this.status = status
    this.code = code
    this.requestId = requestId || null
    this.retryAfter = retryAfter || null
    this.field = field || null
    this.details = details || {}
  }
}

function baseUrl() {
  let app = null
  try {
    app = typeof getApp === 'function' ? getApp() : null
  } catch (e) {
    app = null
  }
  const fromApp = app && app.globalData && app.globalData.baseUrl
  return String(fromApp || config.baseUrl).replace(/\/+$/, '')
}

function headerOf(res, name) {
  const headers = res.header || {}
  const key = Object.keys(headers).find(k => k.toLowerCase() === name.toLowerCase())
  return key ? headers[key] : undefined
}

function queryString(query) {
  if (!query) return ''
  const parts = Object.keys(query)
    .filter(k => query[k] !== undefined && query[k] !== null && query[k] !== '')
    .map(k => `${encodeURIComponent(k)}=${encodeURIComponent(query[k])}`)
  return parts.length ? `?${parts.join('&')}` : ''
}

/** @param {number} status @param {string} code @param {object} [extra] */
function refusal(status, code, extra = {}) {
  return new ApiError(Object.assign({
    status, code, message: plainMessage({ code, status }),
  }, extra))
}

function errorFrom(res) {
  const status = res.statusCode
  const envelope = res.data && typeof res.data === 'object' ? res.data.error : null
  if (envelope && envelope.code) {
    const { code, message, request_id: requestId, retry_after: retryAfter, field } = envelope
    return new ApiError({
      status, code, requestId, retryAfter, field, details: envelope,
      message: plainMessage({ code, status, serverMessage: message }),
    })
  }
  return refusal(status, status === 404 ? 'NOT_FOUND' : `HTTP_${status}`)
}

/**
 * @param {{method: string, path: string, query?: Record<string, any>, body?: any,
 *   headers?: Record<string, string>, text?: boolean}} request
 * @returns {Promise<any>} wx.request's success result
 */
function send({ method, path, query, body, headers, text }) {
  return new Promise((resolve, reject) => {
    if (WX_METHODS.indexOf(method) < 0) {
      reject(refusal(0, 'METHOD_NOT_SUPPORTED', { details: { method } }))
      return
    }
    const all = Object.assign({ 'Accept-Language': 'zh-CN' }, headers)
    if (body !== undefined) all['Content-Type'] = 'application/json'
    wx.request({
      url: `${baseUrl()}${path}${queryString(query)}`,
      method,
      data: body === undefined ? undefined : body,
      header: all,
      timeout: config.requestTimeoutMs,
      dataType: text ? 'text' : 'json',
      responseType: 'text',
      success: resolve,
      fail: err => {
        const timedOut = /timeout/i.test((err && err.errMsg) || '')
        reject(refusal(0, timedOut ? 'TIMEOUT' : 'NETWORK', { details: err || {} }))
      },
    })
  })
}

let refreshing = null

/** One refresh at a time: the refresh token works once. */
function refreshTokens() {
  if (!refreshing) {
    const token = session.refreshToken()
    refreshing = (token ? send({
      method: 'POST', path: '/v1/auth/refresh', body: { refresh_token: token },
    }) : Promise.reject(refusal(401, 'NOT_LOGGED_IN')))
      .then(res => {
        if (res.statusCode !== 200) throw errorFrom(res)
        session.save(res.data)
        return res.data
      })
      .catch(err => {
        session.clear()
        throw err
      })
      .finally(() => {
        refreshing = null
      })
  }
  return refreshing
}

/**
 * One call. `key`: the Idempotency-Key of a create; `ifMatch`: the ETag of an update;
 * `auth: false` for the login routes; `text: true` for an HTML page.
 * @param {string} method
 * @param {string} path
 * @param {CallOptions} [options]
 * @returns {Promise<Answer<any>>}
 */
async function call(method, path, { query, body, key, ifMatch, auth = true, text = false } = {}) {
  /** @type {Record<string, string>} */
  const headers = {}
  if (key) headers['Idempotency-Key'] = key
  if (ifMatch) headers['If-Match'] = ifMatch
  for (let attempt = 0; attempt < 2; attempt++) {
    if (auth) {
      const token = session.accessToken()
      if (!token) throw refusal(401, 'NOT_LOGGED_IN')
      headers.Authorization = `Bearer ${token}`
    }
    const res = await send({ method, path, query, body, headers, text })
    if (res.statusCode === 401 && auth && attempt === 0 && session.refreshToken()) {
      await refreshTokens()
      continue
    }
    if (res.statusCode >= 400) throw errorFrom(res)
    return { data: res.data, status: res.statusCode, etag: headerOf(res, 'ETag') }
  }
  throw refusal(401, 'NOT_LOGGED_IN')
}

/** The ETag of a record whose list gives only its version (family links). */
function etagOfVersion(version) {
  return `"v${version}"`
}

const enc = encodeURIComponent

// -- login and account --------------------------------------------------------------

const auth = {
  /** @returns {Promise<LoginAnswer>} */
  async wechatLogin(code, device) {
    const answer = (await call('POST', '/v1/auth/wechat/login', {
      auth: false, body: { code, device: device || undefined },
    })).data
    session.save(answer)
    return answer
  },
  /** Bind the phone from the getPhoneNumber button's code. @returns {Promise<LoginAnswer>} */
  async bindWechatPhone(code) {
    const answer = (await call('POST', '/v1/auth/wechat/phone', { body: { code } })).data
    session.save(answer)
    return answer
  },
  async logout() {
    try {
      await call('POST', '/v1/auth/logout')
    } finally {
      session.clear()
    }
  },
  loggedIn() {
    return !!session.accessToken()
  },
}

const account = {
  /** @returns {Promise<AccountView>} */
  async me() {
    const me = (await call('GET', '/v1/me')).data
    session.saveAccount(me)
    return me
  },
  /** @returns {Promise<RealNameCodeSent>} */
  async requestRealNameCode(idNumber, name) {
    return (await call('POST', '/v1/me/real-name/code', {
      body: { id_number: idNumber, name },
    })).data
  },
  /** @returns {Promise<AccountView>} */
  async confirmRealName(challengeId, code) {
    const me = (await call('POST', '/v1/me/real-name', {
      body: { challenge_id: challengeId, code },
    })).data
    session.saveAccount(me)
    return me
  },
  /** @returns {Promise<PersonView>} */
  async person(personId) {
    return (await call('GET', `/v1/people/${enc(personId)}`)).data
  },
  /** @returns {Promise<Inbox>} */
  async inbox() {
    return (await call('GET', '/v1/me/inbox')).data
  },
  async markRead(messageId) {
    await call('POST', `/v1/me/inbox/${enc(messageId)}/read`)
  },
}

// -- family (亲情服务) -----------------------------------------------------------------

const family = {
  /** @returns {Promise<FamilyLinks>} */
  async links() {
    return (await call('GET', '/v1/family/links')).data
  },
  /** @param {FamilyInvite} invite @returns {Promise<Answer<FamilyLinkView>>} */
  invite(invite, key) {
    return call('POST', '/v1/family/links', { body: invite, key })
  },
  /** accept (the invited relative), confirm (the person), end (either). @returns {Promise<Answer<FamilyLinkView>>} */
  move(link, event) {
    return call('POST', `/v1/family/links/${enc(link.link_id)}/${event}`, {
      ifMatch: etagOfVersion(link.version),
    })
  },
}

// -- pension certification ------------------------------------------------------------

const pension = {
  /** @returns {Promise<CertStatusView>} */
  async status(personId) {
    return (await call('GET', `/v1/pension/people/${enc(personId)}/status`)).data
  },
  /** @returns {Promise<ConsentView>} */
  async consent(personId) {
    return (await call('GET', `/v1/pension/people/${enc(personId)}/consent`)).data
  },
  /** The notice to show before consent, from the server that records it. @returns {Promise<ConsentNotice>} */
  async consentNotice() {
    return (await call('GET', '/v1/pension/consent-notice', { auth: false })).data
  },
  /** @param {ConsentDecision['decision']} decision @returns {Promise<ConsentRecorded>} */
  async decideConsent(personId, decision, noticeVersion) {
    return (await call('POST', `/v1/pension/people/${enc(personId)}/consent`, {
      body: { decision, notice_version: noticeVersion },
    })).data
  },
  /** Ask the server for a WeChat verify id. @returns {Promise<WeChatFaceStarted>} */
  async startWeChatFace(personId, key) {
    return (await call('POST', '/v1/pension/wechat-face', { body: { person_id: personId }, key })).data
  },
  /** The server asks WeChat for the verdict. @returns {Promise<CheckOutcome>} */
  async weChatFaceResult(checkId) {
    return (await call('POST', `/v1/pension/wechat-face/${enc(checkId)}/result`)).data
  },
  /** 预约上门认证 (POST /v1/pension/home-visits). @param {VisitRequest} request @returns {Promise<VisitView>} */
  async bookHomeVisit(request, key) {
    return (await call('POST', '/v1/pension/home-visits', { body: request, key })).data
  },
}

// -- cross-region medical filing (异地就医备案) -------------------------------------------

const filings = {
  /** The categories, their fields and the 承诺书, from the server that checks them. @returns {Promise<FilingGuide>} */
  async guide() {
    return (await call('GET', '/v1/medical/filing-guide', { auth: false })).data
  },
  /** @returns {Promise<FilingList>} */
  async list(personId, status) {
    return (await call('GET', '/v1/medical/filings', {
      query: { person_id: personId, status },
    })).data
  },
  /** @param {FilingRequest} request @returns {Promise<Answer<FilingView>>} */
  create(request, key) {
    return call('POST', '/v1/medical/filings', { body: request, key })
  },
  /** @returns {Promise<Answer<FilingView>>} */
  get(filingId) {
    return call('GET', `/v1/medical/filings/${enc(filingId)}`)
  },
  /**
   * The change by POST …/change (the same as the contract's PATCH, which wx.request
   * cannot send), at the version the page read.
   * @param {FilingChange} change @returns {Promise<Answer<FilingView>>}
   */
  change(filingId, change, etag) {
    return call('POST', `/v1/medical/filings/${enc(filingId)}/change`, { body: change, ifMatch: etag })
  },
  /** @returns {Promise<Answer<FilingView>>} */
  cancel(filingId, etag) {
    return call('POST', `/v1/medical/filings/${enc(filingId)}/cancel`, { ifMatch: etag })
  },
  /** The printable certificate (HTML). @returns {Promise<string>} */
  async certificateHtml(filingId) {
    return String((await call('GET', `/v1/medical/filings/${enc(filingId)}/certificate`, {
      text: true,
    })).data || '')
  },
}

// -- social-security card (社保卡) -------------------------------------------------------

const cards = {
  /** @returns {Promise<CardList>} */
  async list(personId) {
    return (await call('GET', '/v1/cards', { query: { person_id: personId } })).data
  },
  /** @returns {Promise<Answer<CardView>>} */
  get(cardId) {
    return call('GET', `/v1/cards/${enc(cardId)}`)
  },
  /** @param {CardEventRequest} [request] @returns {Promise<Answer<CardView>>} */
  event(cardId, event, etag, request) {
    return call('POST', `/v1/cards/${enc(cardId)}/${event}`, { body: request, ifMatch: etag })
  },
  /** While the card is under temporary loss: an SMS code first. @returns {Promise<ECodeSmsSent>} */
  async requestECodeSms(cardId) {
    return (await call('POST', `/v1/cards/${enc(cardId)}/ecode/sms`)).data
  },
  /** @returns {Promise<ECode>} */
  async issueECode(cardId, confirmation) {
    return (await call('POST', `/v1/cards/${enc(cardId)}/ecode`, {
      body: confirmation ? { challenge_id: confirmation.challengeId, code: confirmation.code } : undefined,
    })).data
  },
  /** @returns {Promise<ServicePointList>} */
  async servicePoints(region) {
    return (await call('GET', '/v1/cards/service-points', { query: { region }, auth: false })).data
  },
}

module.exports = {
  ApiError, WX_METHODS, call, baseUrl, etagOfVersion, auth, account, family, pension, filings, cards,
}
