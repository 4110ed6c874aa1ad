/**
 * What every page shares: the 长辈版 switch state, whom the page acts for (oneself or
 * a relative), and showing a refusal in plain words with what to do next.
 */
const elder = require('../utils/elder')
const session = require('../utils/session')

module.exports = Behavior({
  data: {
    elder: false,
    // { text, kind: 'error' | 'ok' | 'info', login: bool } shown at the top of the page
    notice: null,
    busy: false,
    actingFor: null,
  },

  methods: {
    /** The usual start of a page: the shared state, then its own data (if it loads any).
     *  A page with more to do on load defines its own onLoad (and calls syncShared). */
    onLoad() {
      this.syncShared()
      return typeof this.load === 'function' ? this.load() : undefined
    },

    /** Back on screen: the 长辈版 switch or the relative acted for may have changed. */
    onShow() {
      this.syncShared()
    },

    /** Re-read the shared state (onLoad and onShow). */
    syncShared() {
      const app = getApp()
      this.setData({
        elder: elder.isOn(),
        actingFor: (app && app.globalData.actingFor) || null,
      })
    },

    /** The person this page is about: the relative acted for, else the account's own. */
    subjectPersonId() {
      const app = getApp()
      const acting = app && app.globalData.actingFor
      if (acting) return acting.person_id
      const me = (app && app.globalData.me) || session.account()
      return me ? me.person_id : null
    },

    ownPersonId() {
      const app = getApp()
      const me = (app && app.globalData.me) || session.account()
      return me ? me.person_id : null
    },

    showError(err) {
      const text = (err && err.message) || '出了点问题，请稍后再试。如需帮助，请拨打 12333。'
      const login = !!(err && (err.status === 401 || err.code === 'NOT_LOGGED_IN'))
      this.setData({ notice: { text, kind: 'error', login }, busy: false })
      return err
    },

    showOk(text) {
      this.setData({ notice: { text, kind: 'ok', login: false } })
    },

    showInfo(text) {
      this.setData({ notice: { text, kind: 'info', login: false } })
    },

    clearNotice() {
      this.setData({ notice: null })
    },

    /** Run an action with the busy flag set; a refusal is shown, never thrown. */
    async guarded(action) {
      if (this.data.busy) return undefined
      this.setData({ busy: true, notice: null })
      try {
        return await action()
      } catch (err) {
        this.showError(err)
        return undefined
      } finally {
        this.setData({ busy: false })
      }
    },

    goLogin() {
      wx.navigateTo({ url: '/pages/login/index' })
    },

    goHome() {
      wx.reLaunch({ url: '/pages/home/index' })
    },

    /** Field inputs: <input data-field="name" bindinput="onField"> sets data.form.name. */
    onField(e) {
      const field = e.currentTarget.dataset.field
      this.setData({ [`form.${field}`]: e.detail.value })
    },
  },
})
