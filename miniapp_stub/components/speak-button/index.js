const { speak } = require('../../utils/speak')

Component({
  properties: {
    text: { type: String, value: '' },
    elder: { type: Boolean, value: false },
  },
  methods: {
    onSpeak() {
      return speak(this.data.text)
    },
  },
})
