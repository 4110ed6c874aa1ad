/**
 * 预约上门认证: for people who cannot use a face check. POST /v1/pension/home-visits
 * with {person_id, preferred_dates: ["YYYY-MM-DD"], address, phone} and an
 * Idempotency-Key, answering the booking (VisitView: booking_id, status, …).
 */
const api = require('../../api/client')
const fmt = require('../../utils/format')
const keys = require('../../utils/keys')
const pageBehavior = require('../../behaviors/page')

const STATUS_NAMES = {
  open: '已提交，等待工作人员打电话约时间上门',
  done: '工作人员已上门办理',
  cancelled: '已取消',
}

Component({
  behaviors: [pageBehavior],

  data: {
    step: 'form', // form → done
    form: { address: '', phone: '' },
    dates: [],
    earliest: '',
    latest: '',
    booking: null,
    key: '',
  },

  methods: {
    onLoad() {
      this.syncShared()
      const tomorrow = fmt.addDays(fmt.today(), 1)
      this.setData({ earliest: tomorrow, latest: fmt.addDays(tomorrow, 59) })
    },

    onPickDate(e) {
      const value = e.detail.value
      if (!value || this.data.dates.indexOf(value) >= 0) return
      if (this.data.dates.length >= 3) {
        this.showInfo('最多选 3 个日期。要换日期，请先点日期后面的“删掉”。')
        return
      }
      this.setData({ dates: this.data.dates.concat([value]).sort(), key: '' })
    },

    onRemoveDate(e) {
      const value = e.currentTarget.dataset.value
      this.setData({ dates: this.data.dates.filter(d => d !== value), key: '' })
    },

    async onSubmit() {
      const address = String(this.data.form.address || '').trim()
      const phone = String(this.data.form.phone || '').trim()
      if (!this.data.dates.length) {
        this.showError({ message: '请至少选一个方便上门的日期。' })
        return
      }
      if (address.length < 6) {
        this.showError({ message: '请写清楚上门地址，例如：某某区某某街道某小区几号楼几单元。' })
        return
      }
      if (!/^1[3-9]\d{9}$/.test(phone)) {
        this.showError({ message: '请填写能联系到的 11 位手机号，工作人员上门前会先打电话。' })
        return
      }
      await this.guarded(async () => {
        const key = this.data.key || keys.newKey('visit')
        this.setData({ key })
        let booking
        try {
          booking = await api.pension.bookHomeVisit({
            person_id: this.subjectPersonId(), preferred_dates: this.data.dates, address, phone,
          }, key)
        } catch (err) {
          if (err.status === 404 && err.code === 'NOT_FOUND') {
            // the booking route is not served (an older server): say what to do instead
            err.message = '在线预约上门暂时办不了，请拨打 12333 预约上门认证，或到社保经办网点办理。'
          }
          throw err
        }
        this.setData({
          step: 'done',
          booking: Object.assign({}, booking, { statusName: STATUS_NAMES[booking.status] || booking.status }),
        })
        this.showOk('预约已提交。工作人员会先打电话和您约时间，请保持电话畅通。')
      })
    },
  },
})
