/**
 * 亲情服务: invite a relative to act for you (by phone or ID number, with the services
 * they may handle), the relative accepts, you confirm; either side can end it. A relative
 * who was authorised acts on your behalf: the pages then work on your records.
 *
 * Routes: GET/POST /v1/family/links, POST /v1/family/links/{id}/{accept|confirm|end}
 * (If-Match: the link's version).
 */
const api = require('../../api/client')
const keys = require('../../utils/keys')
const wxp = require('../../utils/wxp')
const pageBehavior = require('../../behaviors/page')

const PERMISSIONS = [
  { value: 'pension_cert', name: '养老金认证', page: '/pages/pension/index' },
  { value: 'card', name: '社保卡', page: '/pages/card/index' },
  { value: 'filing', name: '异地就医备案', page: '/pages/filing/index' },
]
const STATUS = {
  invited: '已邀请，等家人接受',
  accepted: '家人已接受，等授权人确认',
  confirmed: '已生效',
  ended: '已结束',
}

function permissionNames(list) {
  return PERMISSIONS.filter(p => list.indexOf(p.value) >= 0).map(p => p.name).join('、')
}

Component({
  behaviors: [pageBehavior],

  data: {
    screen: 'list', // list | invite
    mine: [], // links where I am the one who authorised
    forMe: [], // links where I was invited to act for someone
    permissions: PERMISSIONS,
    form: { by: 'phone', phone: '', id_number: '', chosen: { pension_cert: true, card: false, filing: false } },
    inviteKey: '',
    loaded: false,
  },

  methods: {
    async load() {
      try {
        const me = await api.account.me()
        getApp().globalData.me = me
        const links = (await api.family.links()).links.filter(l => l.status !== 'ended')
        const decorate = l => Object.assign({}, l, {
          statusName: STATUS[l.status] || l.status,
          permissionNames: permissionNames(l.permissions),
          grants: PERMISSIONS.filter(p => l.permissions.indexOf(p.value) >= 0),
        })
        const mine = links.filter(l => l.grantor_person_id === me.person_id).map(decorate)
        const forMe = links.filter(l => l.grantee_account_id === me.account_id).map(decorate)
        // The person's masked name, once the link is confirmed (the record shows only then).
        await Promise.all(forMe.map(async l => {
          l.name = '家人'
          if (l.status === 'confirmed') {
            try {
              l.name = (await api.account.person(l.grantor_person_id)).name
            } catch (e) {
              // keep the plain word
            }
          }
        }))
        this.setData({ mine, forMe, loaded: true })
      } catch (err) {
        this.showError(err)
        this.setData({ loaded: true })
      }
    },

    onScreen(e) {
      this.clearNotice()
      this.setData({ screen: e.currentTarget.dataset.screen })
    },

    onBy(e) {
      this.setData({ 'form.by': e.currentTarget.dataset.by, inviteKey: '' })
    },

    onTogglePermission(e) {
      const value = e.currentTarget.dataset.value
      this.setData({ [`form.chosen.${value}`]: !this.data.form.chosen[value], inviteKey: '' })
    },

    async onInvite() {
      const form = this.data.form
      const permissions = PERMISSIONS.map(p => p.value).filter(v => form.chosen[v])
      const body = { permissions }
      if (form.by === 'phone') {
        const phone = String(form.phone || '').trim()
        if (!/^1[3-9]\d{9}$/.test(phone)) {
          this.showError({ message: '请填写家人的 11 位手机号（家人要先登录过小程序）。' })
          return
        }
        body.phone = phone
      } else {
        const id = String(form.id_number || '').trim().toUpperCase()
        if (!/^\d{17}[\dX]$/.test(id)) {
          this.showError({ message: '请填写家人的 18 位身份证号（家人要先完成实名认证）。' })
          return
        }
        body.id_number = id
      }
      if (!permissions.length) {
        this.showError({ message: '请至少选一项请家人代办的业务。' })
        return
      }
      await this.guarded(async () => {
        const key = this.data.inviteKey || keys.newKey('family')
        this.setData({ inviteKey: key })
        await api.family.invite(body, key)
        this.setData({ inviteKey: '', screen: 'list' })
        await this.load()
        this.showOk('已邀请。请家人打开小程序，在“亲情服务”里点“接受”，您再点“确认”就生效了。')
      })
    },

    async onMove(e) {
      const { id, event } = e.currentTarget.dataset
      const link = this.data.mine.concat(this.data.forMe).find(l => l.link_id === id)
      if (!link) return
      if (event === 'end') {
        const ok = await wxp.confirm('结束授权', '结束后，家人不能再替您（或您不能再替家人）办理。确定结束吗？', '结束', '不结束')
        if (!ok) return
      }
      await this.guarded(async () => {
        await api.family.move(link, event)
        await this.load()
        const done = {
          accept: '已接受。等家人点“确认”后，您就可以替家人办理了。',
          confirm: '已确认，授权生效。家人现在可以替您办理所选的业务。',
          end: '授权已结束。',
        }
        this.showOk(done[event])
      })
    },

    /** Act for the relative: the pages now work on their records. */
    onActFor(e) {
      const { id, page } = e.currentTarget.dataset
      const link = this.data.forMe.find(l => l.link_id === id)
      if (!link) return
      getApp().globalData.actingFor = {
        person_id: link.grantor_person_id, name: link.name, permissions: link.permissions,
        link_id: link.link_id,
      }
      wx.navigateTo({ url: page })
    },
  },
})
