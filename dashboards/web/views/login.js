// Login: username + password, POST /v1/auth/login; the session cookie is set by the gateway.
import { api, ApiError } from '../api.js'
import { h } from '../dom.js'

/** @param {HTMLElement} root @param {import('../app.js').ViewContext} ctx */
export function mount(root, ctx) {
  ctx.setTitle('Log in')
  const error = h('p', { class: 'form-error', testid: 'login-error', role: 'alert', id: 'login-error', hidden: true })
  const username = /** @type {HTMLInputElement} */ (h('input', {
    id: 'login-username', name: 'username', testid: 'login-username', autocomplete: 'username', required: true,
    autocapitalize: 'none', spellcheck: 'false', 'aria-describedby': 'login-error',
  }))
  const password = /** @type {HTMLInputElement} */ (h('input', {
    id: 'login-password', name: 'password', type: 'password', testid: 'login-password', autocomplete: 'current-password',
    required: true, 'aria-describedby': 'login-error',
  }))
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block', testid: 'login-submit', text: 'Log in' })

  const form = h(
    'form',
    { class: 'login-form', testid: 'login-form', novalidate: true, 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title', text: 'Log in' }),
    h('p', { class: 'muted', text: 'Live footfall, occupancy and store health for the whole chain.' }),
    h('div', { class: 'field' }, h('label', { for: 'login-username', text: 'Username' }), username),
    h('div', { class: 'field' }, h('label', { for: 'login-password', text: 'Password' }), password),
    error,
    submit,
  )

  const showError = (/** @type {string} */ msg) => {
    error.textContent = msg
    error.hidden = false
    username.setAttribute('aria-invalid', 'true')
    password.setAttribute('aria-invalid', 'true')
  }

  for (const input of [username, password]) input.addEventListener('input', () => input.removeAttribute('aria-invalid'))

  form.addEventListener('submit', async (e) => {
    e.preventDefault()
    const u = username.value.trim()
    const p = password.value
    if (!u || !p) {
      showError('Enter your username and password.')
      const empty = u ? password : username
      empty.focus()
      return
    }
    error.hidden = true
    submit.setAttribute('disabled', '')
    submit.textContent = 'Logging in…'
    try {
      const s = await api('/v1/auth/login', { method: 'POST', body: { username: u, password: p }, auth: false, signal: ctx.signal })
      ctx.loggedIn(s)
    } catch (err) {
      if (ctx.signal.aborted) return
      if (err instanceof ApiError && err.code === 'STORE_EDGE_ERR_LOGIN_FAILED') showError(err.message || 'Wrong username or password.')
      else if (err instanceof ApiError) showError(err.message)
      else showError('Login failed. Try again.')
      password.value = ''
      password.focus()
    } finally {
      submit.removeAttribute('disabled')
      submit.textContent = 'Log in'
    }
  })

  root.append(h('div', { class: 'login-wrap' }, form))
  username.focus()
}
