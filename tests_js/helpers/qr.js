/**
 * Scan what a page drew: rasterise the recorded canvas operations (fillRect in black or
 * white) into pixels and read them with jsQR, an independent QR decoder.
 */
const jsQR = require('jsqr')

function scan(canvas) {
  if (!canvas || !canvas.ops.length) return null
  const side = Math.max(...canvas.ops.map(op => Math.max(op.x + op.w, op.y + op.h)))
  const margin = 8 // a little white around, as a camera would see it
  const size = side + margin * 2
  const pixels = new Uint8ClampedArray(size * size * 4).fill(255)
  for (const op of canvas.ops) {
    const dark = /^#0{3,6}$|^black$|^rgb\(0, ?0, ?0\)$/i.test(op.fill)
    const value = dark ? 0 : 255
    for (let y = op.y; y < op.y + op.h; y++) {
      for (let x = op.x; x < op.x + op.w; x++) {
        const at = ((y + margin) * size + (x + margin)) * 4
        pixels[at] = value
        pixels[at + 1] = value
        pixels[at + 2] = value
        pixels[at + 3] = 255
      }
    }
  }
  const found = jsQR(pixels, size, size)
  return found ? found.data : null
}

module.exports = { scan }
