/**
 * 社保卡: status and issuance progress, temporary loss (临时挂失) and lifting it, and the
 * electronic card code (电子社保卡码) as a QR code drawn on the phone, refreshed before
 * its 60 s run out. While the card is under temporary loss the code needs an SMS
 * confirmation first (the holder's authorisation); the confirmation then serves for a
 * while (the server says how many seconds), and codes refresh with its id alone until
 * it runs out. After that the code is not refreshed by itself: a new SMS is needed.
 */
const api = require('../../api/client')
const { config } = require('../../config')
const fmt = require('../../utils/format')
const qr = require('../../utils/qr')
const wxp = require('../../utils/wxp')
const pageBehavior = require('../../behaviors/page')

const QR_SIZE = 240

function describe(card) {
  const steps = (card.progress || []).map(s => ({ name: s.name, at: fmt.dateTime(s.at) || s.at }))
  let advice = ''
  switch (card.status) {
    case 'sealed': advice = '卡已做好，还没有激活。请带身份证到发卡银行网点激活。'; break
    case 'temp_loss':
      advice = `卡已临时挂失${card.temp_loss_lifts_on ? `，${fmt.day(card.temp_loss_lifts_on)} 会自动解除` : ''}。找到卡了可以点“解除挂失”；找不到，请到银行网点办理正式挂失和补卡。`
      break
    case 'formal_loss': advice = '卡已正式挂失。请到社保卡服务网点或发卡银行补卡。'; break
    case 'cancelled': advice = '这张卡已注销，不能再用。如需办新卡，请到社保卡服务网点。'; break
    default: advice = '卡可以正常使用。卡丢了请马上点“临时挂失”。'
  }
  return Object.assign({}, card, { steps, advice })
}

Component({
  behaviors: [pageBehavior],

  data: {
    screen: 'status', // status | ecode-sms | ecode
    cards: [],
    card: null,
    loaded: false,
    qrSize: QR_SIZE,
    ecode: null, // { code, expiresIn, remaining, expired, needsSms, autoRefresh, authorisedMinutes }
    sms: { challengeId: '', code: '' },
    form: { code: '' },
  },

  methods: {
    onHide() {
      this.stopTimers()
    },

    onUnload() {
      this.stopTimers()
    },

    async load() {
      try {
        const list = await api.cards.list(this.subjectPersonId())
        const cards = list.cards.map(describe)
        const card = cards.find(c => c.status !== 'cancelled') || cards[0] || null
        this.setData({ cards, card, loaded: true })
      } catch (err) {
        this.showError(err)
        this.setData({ loaded: true })
      }
    },

    /** The card's current ETag, read just before acting on it. */
    async fresh() {
      const answer = await api.cards.get(this.data.card.card_id)
      return answer.etag
    },

    async onTempLoss() {
      const ok = await wxp.confirm('临时挂失', '挂失后这张卡暂时不能用（社保和银行功能都停用），找到了可以解除。确定挂失吗？', '挂失', '不挂失')
      if (!ok) return
      await this.guarded(async () => {
        const etag = await this.fresh()
        await api.cards.event(this.data.card.card_id, 'temp_loss', etag, { functions: ['ss', 'bank'] })
        await this.load()
        this.showOk('已临时挂失。' + this.data.card.advice)
      })
    },

    async onLiftLoss() {
      await this.guarded(async () => {
        const etag = await this.fresh()
        await api.cards.event(this.data.card.card_id, 'cancel_temp_loss', etag, { functions: ['ss', 'bank'] })
        await this.load()
        this.showOk('已解除挂失，卡可以正常使用了。')
      })
    },

    onShowCode() {
      this.clearNotice()
      if (this.data.card.status === 'temp_loss') {
        const still = this.authorisation && this.authorisation.endsAt - Date.now() > 5000
        if (still) return this.issue({ challengeId: this.authorisation.challengeId })
        this.setData({ screen: 'ecode-sms', sms: { challengeId: '', code: '' }, 'form.code': '' })
        return undefined
      }
      return this.issue(null)
    },

    async onSendSms() {
      await this.guarded(async () => {
        const sent = await api.cards.requestECodeSms(this.data.card.card_id)
        this.setData({ 'sms.challengeId': sent.challenge_id })
        this.showInfo('验证码已发到您在社保登记的手机上，5 分钟内有效。')
      })
    },

    onConfirmSms() {
      const code = String(this.data.form.code || '').trim()
      if (!this.data.sms.challengeId) {
        this.showError({ message: '请先点“发送验证码”。' })
        return undefined
      }
      if (!/^\d{6}$/.test(code)) {
        this.showError({ message: '请输入短信里的 6 位数字验证码。' })
        return undefined
      }
      return this.issue({ challengeId: this.data.sms.challengeId, code })
    },

    /** `confirmation`: null (card not lost), { challengeId, code } (the SMS just came) or
     *  { challengeId } (a confirmation still in force). */
    async issue(confirmation) {
      await this.guarded(async () => {
        this.stopTimers()
        let ecode
        try {
          ecode = await api.cards.issueECode(this.data.card.card_id, confirmation)
        } catch (err) {
          if (err.code === 'ECODE_SMS_CONFIRMATION_REQUIRED') {
            // The confirmation ran out (or the loss changed): ask for a new SMS code.
            this.authorisation = null
            this.setData({ screen: 'ecode-sms', ecode: null, sms: { challengeId: '', code: '' }, 'form.code': '' })
          }
          throw err
        }
        const needsSms = ecode.authorised_for !== null && ecode.authorised_for !== undefined
        // Under loss the next code comes with the confirmation's id while it lasts (the
        // server counts the seconds: the phone's own clock may be wrong).
        const next = needsSms ? { challengeId: confirmation.challengeId } : null
        this.authorisation = needsSms
          ? { challengeId: confirmation.challengeId, endsAt: Date.now() + ecode.authorised_for * 1000 }
          : null
        const delay = Math.max(1, ecode.expires_in - config.ecodeRefreshMarginSeconds)
        const autoRefresh = !needsSms || ecode.authorised_for > delay + 2
        this.setData({
          screen: 'ecode',
          ecode: {
            code: ecode.code, expiresIn: ecode.expires_in, remaining: ecode.expires_in, expired: false,
            needsSms, autoRefresh, authorisedMinutes: needsSms ? Math.max(1, Math.ceil(ecode.authorised_for / 60)) : 0,
          },
        })
        this.qrDrawn = qr.draw('ecard-qr', this, ecode.code, QR_SIZE)
        this.startTimers(delay, autoRefresh ? () => this.issue(next) : null)
      })
    },

    /** Count down each second; when `refresh` is given, fetch the next code before this one ends. */
    startTimers(refreshAfterSeconds, refresh) {
      this.countdown = setInterval(() => {
        const left = Math.max(0, this.data.ecode.remaining - 1)
        this.setData({ 'ecode.remaining': left, 'ecode.expired': left === 0 })
        if (left === 0) clearInterval(this.countdown)
      }, 1000)
      if (refresh) this.refreshTimer = setTimeout(refresh, refreshAfterSeconds * 1000)
    },

    stopTimers() {
      if (this.countdown) clearInterval(this.countdown)
      if (this.refreshTimer) clearTimeout(this.refreshTimer)
      this.countdown = null
      this.refreshTimer = null
    },

    onCloseCode() {
      this.stopTimers()
      this.setData({ screen: 'status', ecode: null })
    },
  },
})
