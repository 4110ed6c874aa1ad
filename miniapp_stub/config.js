/**
 * Where the mini-program finds the API, and the few fixed identifiers it needs.
 *
 * - WeChat DevTools against `make run`: the default below (tick 「不校验合法域名」 in the
 *   project settings; project.config.json already sets urlCheck false).
 * - Production: the https domain registered as a request domain in the admin console.
 * - Tests: `setBaseUrl(...)`, or `getApp().globalData.baseUrl`, which wins when set.
 */
const config = {
  baseUrl: 'http://127.0.0.1:8000',
  requestTimeoutMs: 20000,
  // Subscribe-message templates the server sends (notifications/templates.py): a
  // certification result, the reminder before the deadline, the suspension notice.
  // wx.requestSubscribeMessage takes at most three at a time.
  subscribeTemplates: ['wxtpl-cert-done', 'wxtpl-cert-due-soon', 'wxtpl-cert-overdue'],
  // The electronic card code lives 60 s: ask for the next one this many seconds early.
  ecodeRefreshMarginSeconds: 10,
}

function setBaseUrl(url) {
  config.baseUrl = String(url).replace(/\/+$/, '')
}

module.exports = { config, setBaseUrl }
