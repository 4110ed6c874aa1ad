/**
 * 首页 "现在要办什么": certification status and due date, effective filings, card
 * status, unread messages; the 长辈版 switch. In 长辈版 one task fills the screen.
 */
const api = require('../../api/client')
const fmt = require('../../utils/format')
const elder = require('../../utils/elder')
const pageBehavior = require('../../behaviors/page')

const PENSIONERS = ['retiree', 'survivor']

function certSummary(status) {
  if (!status) return null
  const through = fmt.day(status.valid_through)
  switch (status.status) {
    case 'certified':
      return { tone: 'good', text: `已认证。认证有效期到 ${through}。`, task: null }
    case 'due_soon':
      return {
        tone: 'warn', text: `认证快到期了：有效期到 ${through}，请在这天或之前完成认证。`,
        task: { title: '做养老金资格认证', detail: `请在 ${through} 或之前完成，养老金照常发放。` },
      }
    case 'overdue_suspended':
      return {
        tone: 'bad',
        text: `认证已过期，养老金${status.suspended_from ? `从 ${fmt.month(status.suspended_from)}起` : ''}暂停发放。认证后下个月恢复发放，并补发暂停的月份。`,
        task: { title: '做养老金资格认证', detail: '完成认证后，下个月恢复发放，并补发暂停的月份。' },
      }
    case 'pending_review':
      return { tone: 'warn', text: '认证已提交，工作人员正在复核，期间养老金照常发放。', task: null }
    case 'blocked':
      return {
        tone: 'bad', text: '资格认证已暂停，请带身份证到社保经办网点办理。',
        task: { title: '资格认证已暂停', detail: '请带身份证到社保经办网点办理，或拨打 12333。', noButton: true },
      }
    default:
      return {
        tone: 'warn', text: '还没有认证记录。',
        task: { title: '做养老金资格认证', detail: '认证后养老金按时发放。不会用手机也可以请家人代办或预约上门。' },
      }
  }
}

function cardSummary(card) {
  if (!card) return { text: '暂时没有查到您的社保卡。如已办卡，请拨打 12333 咨询。', task: null }
  const text = `社保卡（${card.bank}，${card.card_number}）：${card.status_name}。`
  if (card.status === 'temp_loss') {
    return {
      text: `${text}${card.temp_loss_lifts_on ? `将于 ${fmt.day(card.temp_loss_lifts_on)} 自动解除挂失。` : ''}`,
      task: { title: '社保卡临时挂失中', detail: '找到卡了可以解除挂失；找不到请办理正式挂失后补卡。', url: '/pages/card/index', button: '去看看' },
    }
  }
  if (card.status === 'sealed') {
    return { text, task: { title: '社保卡还没有激活', detail: '请带身份证和社保卡到发卡银行网点激活。', noButton: true } }
  }
  return { text, task: null }
}

Component({
  behaviors: [pageBehavior],

  data: {
    loggedIn: false,
    verified: false,
    person: null,
    cert: null,
    filingText: '',
    cardText: '',
    unread: 0,
    tasks: [],
    taskIndex: 0,
    screen: 'task', // 长辈版: 'task' (one task) or 'services'
    loaded: false,
  },

  methods: {
    onLoad() {
      this.syncShared()
    },

    onShow() {
      this.syncShared()
      return this.load()
    },

    async load() {
      if (!api.auth.loggedIn()) {
        this.setData({
          loggedIn: false, loaded: true, taskIndex: 0,
          tasks: [{ id: 'login', title: '请先登录', detail: '用微信登录后，就能办理社保业务。', url: '/pages/login/index', button: '去登录' }],
        })
        return
      }
      try {
        const me = await api.account.me()
        getApp().globalData.me = me
        if (!me.verified) {
          this.setData({
            loggedIn: true, verified: false, loaded: true, taskIndex: 0,
            tasks: [{ id: 'realname', title: '请先完成实名认证', detail: '填身份证号和姓名，再输入短信验证码。', url: '/pages/realname/index', button: '去实名认证' }],
          })
          return
        }
        const personId = this.subjectPersonId()
        const person = await api.account.person(personId)
        const [status, filingList, cardList, inbox] = await Promise.all([
          PENSIONERS.indexOf(person.person_type) >= 0 ? api.pension.status(personId) : Promise.resolve(null),
          api.filings.list(personId, 'effective'),
          api.cards.list(personId),
          api.account.inbox(),
        ])
        this.show(person, status, filingList.filings, cardList.cards, inbox.messages)
      } catch (err) {
        this.showError(err)
        this.setData({ loaded: true })
      }
    },

    show(person, status, filingList, cardList, messages) {
      const tasks = []
      const cert = certSummary(status)
      if (cert && cert.task) {
        tasks.push(Object.assign({ id: 'cert', url: '/pages/pension/index', button: '去认证' }, cert.task))
      }
      const card = cardList.find(c => c.status !== 'cancelled') || null
      const cardInfo = cardSummary(card)
      if (cardInfo.task) tasks.push(Object.assign({ id: 'card' }, cardInfo.task))
      const soon = fmt.addDays(fmt.today(), 7)
      const ending = filingList.find(f => f.end_date && f.end_date <= soon)
      if (ending) {
        tasks.push({
          id: 'filing', title: '异地就医备案快到期了',
          detail: `${ending.destination.name}的备案到 ${fmt.day(ending.end_date)}，还需要就医请重新备案。`,
          url: '/pages/filing/index', button: '去备案',
        })
      }
      const unread = messages.filter(m => !m.read).length
      if (unread) {
        tasks.push({ id: 'inbox', title: `有 ${unread} 条新消息`, detail: '认证提醒、办理结果都在这里。', url: '/pages/inbox/index', button: '去看消息' })
      }
      const filingText = filingList.length
        ? `异地就医备案：${filingList.length} 条有效（${filingList.map(f => `${f.destination.name}，${f.end_date ? `到 ${fmt.day(f.end_date)}` : '长期有效'}`).join('；')}）。`
        : '异地就医备案：没有有效的备案。'
      this.setData({
        loggedIn: true, verified: true, loaded: true, person, cert,
        certValidThrough: status && status.valid_through ? fmt.day(status.valid_through) : '',
        filingText, cardText: cardInfo.text, unread, tasks, taskIndex: 0,
      })
    },

    onTask(e) {
      const url = e.currentTarget.dataset.url
      if (url) wx.navigateTo({ url })
    },

    onNextTask() {
      const count = this.data.tasks.length
      this.setData({ taskIndex: count ? (this.data.taskIndex + 1) % count : 0 })
    },

    onOpen(e) {
      wx.navigateTo({ url: e.currentTarget.dataset.url })
    },

    onToggleElder() {
      const on = elder.set(!this.data.elder)
      this.setData({ elder: on, screen: 'task' })
      this.showOk(on ? '已切换到长辈版：字更大，按钮更大，每屏只办一件事。' : '已切换到标准版。')
    },

    onScreen(e) {
      this.setData({ screen: e.currentTarget.dataset.screen })
    },
  },
})
