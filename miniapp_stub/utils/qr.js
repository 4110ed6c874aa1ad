/**
 * QR codes drawn on the phone, from the vendored pure-JS encoder
 * (vendor/qrcode-generator.js): the electronic card code and the filing certificate's
 * check code. Error correction M, the smallest version that fits, a 4-module quiet zone.
 */
const qrcode = require('./vendor/qrcode-generator')

const QUIET = 4

/** The module matrix: { count, dark(row, col) }. */
function encode(text) {
  const qr = qrcode(0, 'M')
  qr.addData(String(text), 'Byte')
  qr.make()
  const count = qr.getModuleCount()
  return { count, dark: (row, col) => qr.isDark(row, col) }
}

/**
 * Draw `text` as a QR code on a canvas (`<canvas canvas-id="…">`), `size` px square,
 * with whole-pixel modules so a scanner sees sharp edges. Returns what was drawn.
 */
function draw(canvasId, component, text, size) {
  const matrix = encode(text)
  const cells = matrix.count + QUIET * 2
  const cell = Math.max(1, Math.floor(size / cells))
  const side = cell * cells
  const ctx = wx.createCanvasContext(canvasId, component)
  ctx.setFillStyle('#ffffff')
  ctx.fillRect(0, 0, side, side)
  ctx.setFillStyle('#000000')
  for (let row = 0; row < matrix.count; row++) {
    for (let col = 0; col < matrix.count; col++) {
      if (matrix.dark(row, col)) ctx.fillRect((col + QUIET) * cell, (row + QUIET) * cell, cell, cell)
    }
  }
  ctx.draw()
  return { modules: matrix.count, cell, side }
}

module.exports = { encode, draw, QUIET }
