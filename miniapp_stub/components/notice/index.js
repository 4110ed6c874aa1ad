Component({
  properties: {
    notice: { type: Object, value: null },
    elder: { type: Boolean, value: false },
  },
  methods: {
    onLogin() {
      wx.navigateTo({ url: '/pages/login/index' })
    },
  },
})
