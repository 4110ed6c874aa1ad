/**
 * 实名认证: ID number and name → POST /v1/me/real-name/code (a code goes to the phone
 * the social-security registry holds; the answer is the same whatever the registry
 * holds) → the code → POST /v1/me/real-name.
 */
const api = require('../../api/client')
const idnumber = require('../../utils/idnumber')
const pageBehavior = require('../../behaviors/page')

Component({
  behaviors: [pageBehavior],

  data: {
    step: 'form', // form → code → done
    form: { id_number: '', name: '', code: '' },
    challengeId: '',
    sentMessage: '',
  },

  methods: {
    async onRequestCode() {
      const idNumber = String(this.data.form.id_number || '').trim().toUpperCase()
      const name = String(this.data.form.name || '').trim()
      if (!idnumber.isValid(idNumber)) {
        this.showError({ message: '身份证号码不正确，请核对后重新输入（18 位，最后一位可能是 X）。' })
        return
      }
      if (!name) {
        this.showError({ message: '请填写您的姓名，要和身份证上的一样。' })
        return
      }
      await this.guarded(async () => {
        const sent = await api.account.requestRealNameCode(idNumber, name)
        this.setData({ step: 'code', challengeId: sent.challenge_id, sentMessage: sent.message })
      })
    },

    async onConfirm() {
      const code = String(this.data.form.code || '').trim()
      if (!/^\d{6}$/.test(code)) {
        this.showError({ message: '请输入短信里的 6 位数字验证码。' })
        return
      }
      await this.guarded(async () => {
        const me = await api.account.confirmRealName(this.data.challengeId, code)
        getApp().globalData.me = me
        this.setData({ step: 'done' })
        this.showOk('实名认证完成。现在可以办理养老金认证、社保卡和异地就医备案了。')
      })
    },

    onAgain() {
      this.setData({ step: 'form', 'form.code': '', challengeId: '' })
    },
  },
})
