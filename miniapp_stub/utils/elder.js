/**
 * 长辈版 (elder mode): one switch on the home page, applied on every page.
 *
 * The rule, in styles/common.wxss under `.elder`: sizes are in px (a mini-program px
 * is a CSS px, 1/96 inch = 0.75 pt), never rpx (which scales with the screen width):
 * - main text ≥ 18 pt  → font-size 24px or more
 * - headings  ≥ 30 pt  → font-size 40px or more
 * - line-height 1.3
 * - text contrast ≥ 4.5:1 (dark #1a1a1a on white, white on #0b4f8a, …)
 * - touch targets ≥ 60 × 60 px (min-height and min-width 60px)
 * - one task per screen; a 朗读 button beside every instruction.
 */
const KEY = 'nm12333.elder'

function stored() {
  try {
    return !!wx.getStorageSync(KEY)
  } catch (e) {
    return false
  }
}

function isOn() {
  const app = typeof getApp === 'function' ? getApp() : null
  if (app && app.globalData) return !!app.globalData.elder
  return stored()
}

function set(on) {
  const app = typeof getApp === 'function' ? getApp() : null
  if (app && app.globalData) app.globalData.elder = !!on
  wx.setStorageSync(KEY, !!on)
  return !!on
}

module.exports = { isOn, set, stored }
