import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** A private CA and a server certificate for 127.0.0.1, made with the machine's openssl. */
export async function makeCertificates(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const f = (n: string) => join(dir, n)
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=store-edge test CA'])
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1'])
  await run('sh', ['-c', `printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ${f('san.ext')}`])
  await run('openssl', ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.pem'), '-days', '2', '-extfile', f('san.ext')])
  return { ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key') }
}

/** A Mosquitto password file (mosquitto_passwd, from the mosquitto package). */
export async function passwordFile(file: string, users: Record<string, string>): Promise<string> {
  let first = true
  for (const [user, password] of Object.entries(users)) {
    await run('mosquitto_passwd', [...(first ? ['-c'] : []), '-b', file, user, password])
    first = false
  }
  return file
}
