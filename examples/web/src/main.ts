// Entry point: token, WebAssembly SDK, capabilities, then the app.
import init, { Client, SwitchyardError } from '@switchyard/sdk';
import { App, fatalPage } from './app';
import { ClientError } from './errors';
import './style.css';
import { forgetToken, saveToken, takeToken } from './token';

const root = document.getElementById('app')!;

async function boot(): Promise<void> {
  const token = takeToken();
  const retry = (t: string) => {
    saveToken(t);
    void boot();
  };
  if (!token) {
    fatalPage(root, 'No token', new ClientError('unauthorized', 'this page needs the daemon’s token'), retry);
    return;
  }
  try {
    await init();
  } catch (e) {
    fatalPage(root, 'The SDK could not start', e);
    return;
  }
  const client = new Client({ token });
  let caps;
  try {
    caps = await client.capabilities();
  } catch (e) {
    if (e instanceof SwitchyardError && e.kind === 'unauthorized') {
      forgetToken();
      fatalPage(root, 'The daemon refused the token', e, retry);
    } else {
      fatalPage(root, 'Cannot reach the daemon', e);
    }
    return;
  }
  new App(root, client, caps).start();
}

boot().catch((e) => fatalPage(root, 'Something went wrong', e));
