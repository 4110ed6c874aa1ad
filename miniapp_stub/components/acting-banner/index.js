Component({
  properties: {
    acting: { type: Object, value: null },
    elder: { type: Boolean, value: false },
  },
  methods: {
    onBack() {
      const app = getApp()
      if (app) app.globalData.actingFor = null
      wx.reLaunch({ url: '/pages/home/index' })
    },
  },
})
