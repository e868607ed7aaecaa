// The SMTP transport (TESSERA_SMTP_URL) against a minimal in-process SMTP server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { createMailer } from '../../src/access/mail.ts';
import { FakeClock } from '../../src/platform/clock.ts';
import type { Queryable } from '../../src/db/types.ts';

function smtpServer(received: string[]) {
  return createServer((socket: Socket) => {
    let data = false;
    let buf = '';
    socket.write('220 test ESMTP\r\n');
    socket.on('data', (chunk) => {
      buf += chunk.toString('utf8');
      let i: number;
      while ((i = data ? buf.indexOf('\r\n.\r\n') : buf.indexOf('\r\n')) >= 0) {
        if (data) {
          received.push(buf.slice(0, i));
          buf = buf.slice(i + 5);
          data = false;
          socket.write('250 queued\r\n');
          continue;
        }
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') socket.write('250 test\r\n');
        else if (verb === 'DATA') { data = true; socket.write('354 go ahead\r\n'); }
        else if (verb === 'QUIT') { socket.write('221 bye\r\n'); socket.end(); }
        else socket.write('250 ok\r\n');
      }
    });
  });
}

test('mail goes through SMTP when TESSERA_SMTP_URL is set, not to the outbox', async () => {
  const received: string[] = [];
  const server = smtpServer(received);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const noDb: Queryable = { query: () => { throw new Error('the SMTP transport must not write the outbox'); }, exec: async () => {} };
  try {
    const mailer = createMailer(noDb, new FakeClock(), `smtp://127.0.0.1:${port}`, 'Tessera <no-reply@tessera.test>');
    assert.equal(mailer.kind, 'smtp');
    await mailer.send({ to: 'person@example.com', subject: 'Reset your Tessera password', text: 'Open https://x/auth/password-reset?token=abc', html: '<p>hi</p>' });
    assert.equal(received.length, 1);
    assert.match(received[0]!, /Subject: Reset your Tessera password/);
    assert.match(received[0]!, /To: person@example\.com/);
    assert.match(received[0]!, /token=abc/);
  } finally {
    server.close();
  }
});
