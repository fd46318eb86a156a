// Browser notifications for mentions and direct messages while the page is
// hidden. Permission is asked for once, right after the first sign-in in this
// browser; the chat works the same without it.

const ASKED_KEY = 'chatcluster.notifications.asked';

function supported(): boolean {
  return typeof window !== 'undefined' && 'Notification' in window;
}

/** Asks for permission to notify, once per browser and only while undecided. */
export function askNotificationPermission(): void {
  if (!supported() || Notification.permission !== 'default') return;
  try {
    if (localStorage.getItem(ASKED_KEY)) return;
    localStorage.setItem(ASKED_KEY, '1');
  } catch {
    /* private mode: ask anyway */
  }
  try {
    void Promise.resolve(Notification.requestPermission()).catch(() => {});
  } catch {
    /* not allowed here */
  }
}

/** Shows a notification when the page is hidden and notifying is allowed; onClick brings the page back. */
export function notifyHidden(title: string, body: string, tag: string, onClick: () => void): void {
  if (!supported() || Notification.permission !== 'granted' || document.visibilityState !== 'hidden') return;
  try {
    const n = new Notification(title, { body, tag });
    n.onclick = () => {
      window.focus();
      onClick();
      n.close();
    };
  } catch {
    /* some browsers only notify from a service worker */
  }
}
