const { config } = require('./config')
const elder = require('./utils/elder')

App({
  globalData: {
    // Overrides config.baseUrl when set (tests, or a debug switch).
    baseUrl: '',
    // 长辈版: large text and targets on every page (utils/elder.js).
    elder: false,
    // The account from /v1/me, cached for the pages.
    me: null,
    // Acting for a relative who authorised this account (亲情服务):
    // { person_id, name, permissions, link_id } or null.
    actingFor: null,
  },

  onLaunch() {
    this.globalData.elder = elder.stored()
    this.globalData.baseUrl = this.globalData.baseUrl || config.baseUrl
  },
})
