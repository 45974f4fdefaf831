// A Redis storage adapter for the peer, so that the user-flow comparison can run against a
// node-oidc-provider that keeps its sessions, interactions, grants, codes, pushed requests, opaque
// and refresh tokens and replay records outside the process, as a deployment does (oidc-provider's
// own in-memory adapter is for development only, and cannot be shared by two instances).
// Selected with PEER_STORE=redis (server.mjs); REDIS_URL defaults to redis://127.0.0.1:6379.
//
// Keys: `<prefix><Model>:<id>` holds the JSON payload with the model's TTL; `<prefix>uid:<uid>` and
// `<prefix>user_code:<code>` point at an id; `<prefix>grant:<grantId>` lists the keys issued under
// a grant, for revokeByGrantId. The prefix carries this process's id and start time, so a run never
// reads or deletes another run's (or anyone else's) keys, and everything expires by itself.

import Redis from 'ioredis';

const client = new Redis(process.env.REDIS_URL || 'redis://127.0.0.1:6379', {
  enableAutoPipelining: true,
  lazyConnect: false,
});
const prefix = `certbound-bench:${process.pid}:${Date.now()}:`;

const grantKey = (grantId) => `${prefix}grant:${grantId}`;
const uidKey = (uid) => `${prefix}uid:${uid}`;
const userCodeKey = (code) => `${prefix}user_code:${code}`;

export class RedisAdapter {
  constructor(name) {
    this.name = name;
  }

  key(id) {
    return `${prefix}${this.name}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const ttl = expiresIn ? ['EX', expiresIn] : [];
    const multi = client.multi();
    multi.set(key, JSON.stringify(payload), ...ttl);
    if (payload.grantId) {
      const list = grantKey(payload.grantId);
      multi.rpush(list, key);
      if (expiresIn) {
        // The list lives as long as the longest-lived key in it.
        multi.expire(list, expiresIn, 'NX');
        multi.expire(list, expiresIn, 'GT');
      }
    }
    if (payload.uid) multi.set(uidKey(payload.uid), id, ...ttl);
    if (payload.userCode) multi.set(userCodeKey(payload.userCode), id, ...ttl);
    await multi.exec();
  }

  async find(id) {
    const value = await client.get(this.key(id));
    return value ? JSON.parse(value) : undefined;
  }

  async findByUid(uid) {
    const id = await client.get(uidKey(uid));
    return id ? this.find(id) : undefined;
  }

  async findByUserCode(userCode) {
    const id = await client.get(userCodeKey(userCode));
    return id ? this.find(id) : undefined;
  }

  async consume(id) {
    const key = this.key(id);
    const value = await client.get(key);
    if (!value) return;
    const payload = JSON.parse(value);
    payload.consumed = Math.floor(Date.now() / 1000);
    await client.set(key, JSON.stringify(payload), 'KEEPTTL');
  }

  async destroy(id) {
    await client.del(this.key(id));
  }

  async revokeByGrantId(grantId) {
    const list = grantKey(grantId);
    const keys = await client.lrange(list, 0, -1);
    await client.del(...keys, list);
  }
}
