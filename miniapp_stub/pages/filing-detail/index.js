/**
 * One filing: its certificate (备案凭证), change or cancel.
 *
 * The certificate route answers a printable HTML page only; its rows (and the signed
 * check code, 校验码) are read from it and shown natively, the code drawn as a QR code
 * with the vendored encoder. Cancelling is POST …/cancel and changing POST …/change
 * (wx.request cannot send the contract's PATCH), both with If-Match.
 */
const api = require('../../api/client')
const fmt = require('../../utils/format')
const qr = require('../../utils/qr')
const wxp = require('../../utils/wxp')
const { PROVINCES } = require('../../data/regions')
const { STATUS_NAMES } = require('../../data/filing')
const pageBehavior = require('../../behaviors/page')

const QR_SIZE = 200

function unescapeHtml(text) {
  return String(text)
    .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"')
    .replace(/&#x27;/g, "'").replace(/&#39;/g, "'").replace(/&amp;/g, '&')
}

/** The certificate's rows, [{ name, value }], from its HTML table. */
function certificateRows(html) {
  const rows = []
  const pattern = /<tr><th>([\s\S]*?)<\/th><td>([\s\S]*?)<\/td><\/tr>/g
  let m = pattern.exec(html)
  while (m) {
    rows.push({ name: unescapeHtml(m[1]), value: unescapeHtml(m[2]) })
    m = pattern.exec(html)
  }
  return rows
}

Component({
  behaviors: [pageBehavior],

  data: {
    screen: 'certificate', // certificate | change
    filingId: '',
    filing: null,
    etag: '',
    rows: [],
    checkCode: '',
    qrSize: QR_SIZE,
    provinceNames: PROVINCES.map(p => p[1]),
    cityNames: [],
    provinceIndex: -1,
    cityIndex: -1,
    form: { start_date: '', hospital: '' },
  },

  methods: {
    onLoad(query) {
      this.syncShared()
      this.setData({ filingId: (query && query.id) || '' })
      if (query && query.created) this.showOk('备案成功，马上生效。下面是您的备案凭证，看病时出示身份证或社保卡即可。')
      return this.load()
    },

    async load() {
      try {
        const answer = await api.filings.get(this.data.filingId)
        const filing = answer.data
        this.setData({
          filing: Object.assign({}, filing, {
            statusName: STATUS_NAMES[filing.status] || filing.status,
            until: filing.end_date ? fmt.day(filing.end_date) : '长期有效（变更或取消前）',
          }),
          etag: answer.etag,
        })
        const html = await api.filings.certificateHtml(this.data.filingId)
        const rows = certificateRows(html)
        const code = (rows.find(r => r.name === '校验码') || {}).value || ''
        this.setData({ rows, checkCode: code })
        if (code) this.drawQr(code)
      } catch (err) {
        this.showError(err)
      }
    },

    drawQr(code) {
      this.qrDrawn = qr.draw('cert-qr', this, code, QR_SIZE)
    },

    async onCancel() {
      const ok = await wxp.confirm('取消备案', '取消后，在外地看病不能直接结算。确定取消这条备案吗？', '取消备案', '不取消')
      if (!ok) return
      await this.guarded(async () => {
        await api.filings.cancel(this.data.filingId, this.data.etag)
        await this.load()
        this.showOk('备案已取消。以后还要到外地看病，请重新备案。')
      })
    },

    onChange() {
      this.clearNotice()
      this.setData({ screen: 'change', 'form.start_date': this.data.filing.start_date, 'form.hospital': this.data.filing.hospital || '' })
    },

    onProvince(e) {
      const provinceIndex = Number(e.detail.value)
      const cities = PROVINCES[provinceIndex][2]
      this.setData({ provinceIndex, cityNames: cities.map(c => c[1]), cityIndex: cities.length === 1 ? 0 : -1 })
    },

    onCity(e) {
      this.setData({ cityIndex: Number(e.detail.value) })
    },

    onStartDate(e) {
      this.setData({ 'form.start_date': e.detail.value })
    },

    async onSubmitChange() {
      const change = {}
      if (this.data.provinceIndex >= 0 && this.data.cityIndex >= 0) {
        const province = PROVINCES[this.data.provinceIndex]
        change.destination = { province_code: province[0], city_code: province[2][this.data.cityIndex][0] }
      }
      if (this.data.form.start_date && this.data.form.start_date !== this.data.filing.start_date) {
        change.start_date = this.data.form.start_date
      }
      const hospital = String(this.data.form.hospital || '').trim()
      if (hospital && hospital !== (this.data.filing.hospital || '')) change.hospital = hospital
      if (!Object.keys(change).length) {
        this.showError({ message: '没有要改的内容。请选新的就医地、开始日期或医院，再提交。' })
        return
      }
      await this.guarded(async () => {
        await api.filings.change(this.data.filingId, change, this.data.etag)
        this.setData({ screen: 'certificate' })
        await this.load()
        this.showOk('备案已变更。')
      })
    },

    onBackToCertificate() {
      this.clearNotice()
      this.setData({ screen: 'certificate' })
    },

    onList() {
      wx.navigateBack({ delta: 1 })
    },
  },
})
