// How many accounts wait for an admin's approval: the badge on the Admin link.
import { api, qs } from './api.js';

const PAGE = 100;
export const approvals = $state({ waiting: 0, more: false });

export async function refreshApprovals() {
  try {
    const users = await api.get('/api/admin/users' + qs({ role: 'pending', limit: PAGE }));
    approvals.waiting = users.length;
    approvals.more = users.length === PAGE;
  } catch {
    /* not an admin (any more), or offline: the badge keeps what it knew */
  }
}
