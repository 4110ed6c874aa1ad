/** Per test file: the wx.* shim and the app (helpers/mp.js); pages closed after each test. */
const mp = require('../helpers/mp')

mp.install()

afterEach(() => {
  mp.closeAll()
})
