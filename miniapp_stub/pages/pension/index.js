/**
 * 养老金资格认证.
 *
 * Consent first (POST /v1/pension/people/{id}/consent), given by the person themself;
 * then WeChat's own face check: POST /v1/pension/wechat-face gives a verify id →
 * wx.requestFacialVerify (its result on the phone is opaque) → the server asks WeChat
 * for the verdict: POST /v1/pension/wechat-face/{check_id}/result. Then the answer,
 * with its reason sentence and what to do next.
 *
 * A relative with the pension permission (亲情服务) can run the check for the person
 * (the person faces the camera on the relative's phone); consent stays the person's own.
 * People who cannot use a face check: family, a home visit (pages/home-visit), the office.
 */
const api = require('../../api/client')
const { config } = require('../../config')
const fmt = require('../../utils/format')
const keys = require('../../utils/keys')
const wxp = require('../../utils/wxp')
const pageBehavior = require('../../behaviors/page')

const OTHER_ROUTES = '不用刷脸也能认证：请家人代办，预约工作人员上门，或带身份证到社保经办网点。'
const NOT_FINISHED_RETRIES = 4

function statusText(status) {
  if (!status) return ''
  const through = fmt.day(status.valid_through)
  switch (status.status) {
    case 'certified': return `已认证。认证有效期到 ${through}。`
    case 'due_soon': return `快到期了：认证有效期到 ${through}，请在这天或之前完成认证。`
    case 'overdue_suspended':
      return `认证已过期，养老金${status.suspended_from ? `从 ${fmt.month(status.suspended_from)}起` : ''}暂停发放。认证后下个月恢复，并补发暂停的月份。`
    case 'pending_review': return '认证已提交，工作人员正在复核，期间养老金照常发放。'
    case 'blocked': return '资格认证已暂停，请带身份证到社保经办网点办理。'
    default: return '还没有认证记录，请现在认证。'
  }
}

Component({
  behaviors: [pageBehavior],

  data: {
    step: 'loading', // loading → status (→ other) → consent | needs-consent | refused → ready → verifying → result
    status: null,
    statusText: '',
    consent: null,
    // The 告知书 comes from the server that records the consent; its version goes back
    // with the answer, so the person agrees to exactly the text shown.
    noticeTitle: '',
    noticeLines: [],
    noticeText: '',
    noticeVersion: '',
    otherRoutes: OTHER_ROUTES,
    result: null,
    faceKey: '',
  },

  methods: {
    acting() {
      return !!this.data.actingFor
    },

    async load() {
      const personId = this.subjectPersonId()
      if (!personId) {
        this.showError({ status: 401, message: '请先登录并完成实名认证，再来认证。' })
        return
      }
      try {
        const [status, consent] = await Promise.all([
          api.pension.status(personId), api.pension.consent(personId),
        ])
        this.setData({ step: 'status', status, statusText: statusText(status), consent })
      } catch (err) {
        this.showError(err)
        this.setData({ step: 'status' })
      }
    },

    /** The notice from the server; only the consent step waits for it. */
    async loadNotice() {
      const notice = await api.pension.consentNotice()
      this.setData({
        noticeTitle: notice.title, noticeLines: notice.paragraphs,
        noticeText: notice.paragraphs.join(''), noticeVersion: notice.version,
      })
    },

    async onStart() {
      const consent = this.data.consent
      this.clearNotice()
      if (consent && consent.status === 'given') {
        this.setData({ step: 'ready' })
      } else if (this.acting()) {
        this.setData({ step: 'needs-consent' })
      } else {
        await this.guarded(async () => {
          await this.loadNotice()
          this.setData({ step: 'consent' })
        })
      }
    },

    async onConsent(e) {
      const decision = e.currentTarget.dataset.decision // give | refuse
      await this.guarded(async () => {
        let recorded
        try {
          recorded = await api.pension.decideConsent(this.subjectPersonId(), decision, this.data.noticeVersion)
        } catch (err) {
          // The notice changed while it was on screen: show the new one to read again.
          if (err.code === 'CONSENT_NOTICE_OUTDATED') await this.loadNotice()
          throw err
        }
        const consent = await api.pension.consent(this.subjectPersonId())
        if (recorded.status === 'given') {
          this.setData({ consent, step: 'ready' })
        } else {
          this.setData({ consent, step: 'refused', otherRoutes: recorded.other_routes || OTHER_ROUTES })
        }
      })
    },

    /** Tapped "开始刷脸": subscribe first (it must come from a tap), then the face check. */
    async onFace() {
      try {
        await wxp.call(wx.requestSubscribeMessage, { tmplIds: config.subscribeTemplates })
      } catch (e) {
        // refusing messages changes nothing: the result shows here, and SMS still comes
      }
      await this.guarded(async () => {
        const personId = this.subjectPersonId()
        const key = this.data.faceKey || keys.newKey('face')
        this.setData({ faceKey: key, step: 'verifying' })
        let started
        try {
          started = await api.pension.startWeChatFace(personId, key)
        } catch (err) {
          this.setData({ step: 'ready', faceKey: '' })
          throw err
        }
        try {
          await wxp.call(wx.requestFacialVerify, { verifyId: started.verify_id })
        } catch (e) {
          // cancelled or failed on the phone: the server's verdict below says which
        }
        const outcome = await this.askResult(started.check_id)
        this.setData({ faceKey: '' })
        this.showOutcome(outcome)
      })
      if (this.data.step === 'verifying') this.setData({ step: 'ready' })
    },

    async askResult(checkId) {
      for (let attempt = 0; ; attempt++) {
        try {
          return await api.pension.weChatFaceResult(checkId)
        } catch (err) {
          if (err.code !== 'WECHAT_FACE_NOT_FINISHED' || attempt >= NOT_FINISHED_RETRIES) throw err
          await wxp.sleep(1500)
        }
      }
    },

    /** @param {import('../../api/client').CheckOutcome} outcome */
    showOutcome(outcome) {
      if (outcome.result === 'pass') {
        const status = outcome.status
        this.setData({
          step: 'result', status, statusText: statusText(status),
          result: {
            passed: true,
            message: outcome.message || '认证成功。',
            validThrough: status && status.valid_through ? fmt.day(status.valid_through) : '',
            next: status && status.valid_through
              ? `下次请在 ${fmt.day(status.valid_through)} 或之前再认证，到时会提醒您。` : '',
          },
        })
        return
      }
      const reason = outcome.reason || {}
      const left = outcome.attempts_left
      this.setData({
        step: 'result',
        result: {
          passed: false,
          message: reason.message || '这次没有通过，请稍后再试。',
          attemptsLeft: left,
          next: left ? `今天还可以再试 ${left} 次。` : (outcome.other_routes || OTHER_ROUTES),
        },
      })
    },

    onRetry() {
      this.setData({ step: 'ready', result: null })
    },

    async onWithdraw() {
      const ok = await wxp.confirm('撤回同意', '撤回后不能再用刷脸认证，可以到网点、预约上门或请家人代办。确定撤回吗？', '撤回', '不撤回')
      if (!ok) return
      await this.guarded(async () => {
        const recorded = await api.pension.decideConsent(this.subjectPersonId(), 'withdraw', this.data.noticeVersion)
        const consent = await api.pension.consent(this.subjectPersonId())
        this.setData({ consent, step: 'refused', otherRoutes: recorded.other_routes || OTHER_ROUTES })
      })
    },

    onOther() {
      this.clearNotice()
      this.setData({ step: 'other' })
    },

    onBackToStatus() {
      this.setData({ step: 'status' })
    },

    onFamily() {
      wx.navigateTo({ url: '/pages/family/index' })
    },

    onHomeVisit() {
      wx.navigateTo({ url: '/pages/home-visit/index' })
    },
  },
})
