/** 消息: reminders and results, newest first; tapping one marks it read. */
const api = require('../../api/client')
const fmt = require('../../utils/format')
const pageBehavior = require('../../behaviors/page')

Component({
  behaviors: [pageBehavior],

  data: {
    messages: [],
    unread: 0,
    loaded: false,
  },

  methods: {
    async load() {
      try {
        const inbox = await api.account.inbox()
        const messages = inbox.messages.map(m => Object.assign({}, m, { when: fmt.dateTime(m.created_at) }))
        this.setData({ messages, unread: messages.filter(m => !m.read).length, loaded: true })
      } catch (err) {
        this.showError(err)
        this.setData({ loaded: true })
      }
    },

    async onRead(e) {
      const id = e.currentTarget.dataset.id
      const message = this.data.messages.find(m => m.message_id === id)
      if (!message || message.read) return
      await this.guarded(async () => {
        await api.account.markRead(id)
        await this.load()
      })
    },
  },
})
