/**
 * 登录: wx.login → POST /v1/auth/wechat/login; then the phone with the getPhoneNumber
 * button → POST /v1/auth/wechat/phone (the mini-program account joins the app account
 * of the same phone). Then real-name binding, unless the account is already verified.
 */
const api = require('../../api/client')
const wxp = require('../../utils/wxp')
const pageBehavior = require('../../behaviors/page')

Component({
  behaviors: [pageBehavior],

  data: {
    step: 'start', // start → phone → done
    account: null,
  },

  methods: {
    async onWeChatLogin() {
      await this.guarded(async () => {
        let code
        try {
          code = (await wxp.call(wx.login, { timeout: 10000 })).code
        } catch (e) {
          code = null
        }
        if (!code) {
          throw new api.ApiError({
            status: 0, code: 'WECHAT_LOGIN_FAILED',
            message: '没能取得微信登录凭证，请关闭小程序后重新打开再试。',
          })
        }
        const answer = await api.auth.wechatLogin(code, { client: 'miniapp' })
        getApp().globalData.me = answer.account
        if (answer.account.phone) {
          this.setData({ account: answer.account })
          this.afterLogin(answer.account)
        } else {
          this.setData({ step: 'phone', account: answer.account })
        }
      })
    },

    /** <button open-type="getPhoneNumber">: WeChat gives a one-time code, or a refusal. */
    async onPhoneNumber(e) {
      const detail = (e && e.detail) || {}
      if (!detail.code) {
        this.showInfo('没有取得手机号也可以继续：点“先不绑定”。以后办理业务时再绑定。')
        return
      }
      await this.guarded(async () => {
        const answer = await api.auth.bindWechatPhone(detail.code)
        getApp().globalData.me = answer.account
        this.setData({ account: answer.account })
        this.afterLogin(answer.account)
      })
    },

    onSkipPhone() {
      this.afterLogin(this.data.account)
    },

    afterLogin(account) {
      this.setData({ step: 'done' })
      if (account && account.verified) {
        wx.reLaunch({ url: '/pages/home/index' })
      } else {
        wx.redirectTo({ url: '/pages/realname/index' })
      }
    },
  },
})
