import { describe, expect, it } from 'vitest';
import { ErrorCode, RungateError } from '../common/errors';
import { httpEndpoint, postgresEndpoint, routeHttpUrl, routePostgresDsn } from './target-endpoint';
import type { KernelRoute } from './targets.types';

/** A forwarder on the kernel's side: another host, the port plus 10000. */
const forwarder: KernelRoute = (e) => ({ host: '10.200.0.1', port: e.port + 10000 });
const toIpv6: KernelRoute = () => ({ host: '::1', port: 7000 });
const identity: KernelRoute = (e) => e;

describe('target endpoints', () => {
  describe(httpEndpoint.name, () => {
    it('reads the host and port, 80 or 443 by scheme when none is written', () => {
      expect(httpEndpoint('http://127.0.0.1:8090')).toEqual({ host: '127.0.0.1', port: 8090 });
      expect(httpEndpoint('http://shop.internal/api')).toEqual({ host: 'shop.internal', port: 80 });
      expect(httpEndpoint('https://billing.example')).toEqual({
        host: 'billing.example',
        port: 443,
      });
      expect(httpEndpoint('HTTPS://Billing.Example:8443/v1')).toEqual({
        host: 'billing.example',
        port: 8443,
      });
    });

    it('strips the brackets of an IPv6 host', () => {
      expect(httpEndpoint('http://[::1]:8090/')).toEqual({ host: '::1', port: 8090 });
      expect(httpEndpoint('https://[2001:db8::7]')).toEqual({ host: '2001:db8::7', port: 443 });
    });

    it('refuses what is not an http(s) URL', () => {
      expect(() => httpEndpoint('not a url')).toThrow(/URL is not valid/);
      expect(() => httpEndpoint('ftp://x.example')).toThrow(/must be http/);
    });
  });

  describe(routeHttpUrl.name, () => {
    it('replaces host and port, keeping scheme, path, query and fragment as written', () => {
      expect(routeHttpUrl('http://127.0.0.1:8090', forwarder)).toBe('http://10.200.0.1:18090');
      expect(routeHttpUrl('https://billing.example/v1/?a=b%20c#top', forwarder)).toBe(
        'https://10.200.0.1:10443/v1/?a=b%20c#top',
      );
    });

    it('brackets an IPv6 host, and leaves out the default port', () => {
      expect(routeHttpUrl('http://shop.internal/api', toIpv6)).toBe('http://[::1]:7000/api');
      expect(routeHttpUrl('http://[::1]:8090/x', () => ({ host: 'shop', port: 80 }))).toBe(
        'http://shop/x',
      );
    });

    it('gives the same URL back through an identity route', () => {
      for (const url of [
        'http://127.0.0.1:8090',
        'https://billing.example/v1',
        'http://[::1]:1/',
      ]) {
        expect(routeHttpUrl(url, identity)).toBe(url);
      }
    });
  });

  describe(postgresEndpoint.name, () => {
    it('reads the URL form, port 5432 by default', () => {
      expect(postgresEndpoint('postgresql://u:p@db.internal:6432/shop')).toEqual({
        host: 'db.internal',
        port: 6432,
      });
      expect(postgresEndpoint('postgres://u@db.internal/shop?sslmode=require')).toEqual({
        host: 'db.internal',
        port: 5432,
      });
      expect(postgresEndpoint('postgresql://u:p@[::1]:5433/shop')).toEqual({
        host: '::1',
        port: 5433,
      });
    });

    it('lets host, hostaddr and port parameters win over the authority, as libpq does', () => {
      expect(postgresEndpoint('postgresql://u@ignored:1/shop?host=db&port=6000')).toEqual({
        host: 'db',
        port: 6000,
      });
      expect(postgresEndpoint('postgresql://u@db/shop?hostaddr=192.0.2.4')).toEqual({
        host: '192.0.2.4',
        port: 5432,
      });
    });

    it('reads the key=value form, quoted values included', () => {
      expect(postgresEndpoint('host=db.internal port=6432 dbname=shop user=u')).toEqual({
        host: 'db.internal',
        port: 6432,
      });
      expect(postgresEndpoint("dbname = 'my shop'  host = db password='it\\'s' ")).toEqual({
        host: 'db',
        port: 5432,
      });
      expect(postgresEndpoint("password='a\\'b' hostaddr=192.0.2.4 host=db")).toEqual({
        host: '192.0.2.4',
        port: 5432,
      });
    });

    it('takes a configured kernel host and port over the connection string', () => {
      expect(postgresEndpoint('postgresql://u@db/shop', { host: 'pooler', port: 6432 })).toEqual({
        host: 'pooler',
        port: 6432,
      });
      expect(postgresEndpoint('postgresql://u@db:5433/shop', { host: 'pooler' })).toEqual({
        host: 'pooler',
        port: 5433,
      });
      expect(
        postgresEndpoint('postgresql:///shop?host=/var/run/postgresql', { host: 'db' }),
      ).toEqual({ host: 'db', port: 5432 });
    });

    it('refuses a Unix socket: a sandboxed kernel cannot reach it', () => {
      for (const dsn of [
        'postgresql:///shop?host=/var/run/postgresql',
        'postgresql://%2Fvar%2Frun%2Fpostgresql/shop',
        'host=/tmp dbname=shop',
        'dbname=shop',
        'postgresql:///shop',
      ]) {
        const err = catchError(() => postgresEndpoint(dsn));
        expect(err).toBeInstanceOf(RungateError);
        expect((err as RungateError).code).toBe(ErrorCode.Unavailable);
        expect(err.message).toMatch(/Unix socket.*cannot be reached from a sandboxed kernel/);
      }
    });

    it('refuses what it cannot read, without repeating the secret', () => {
      for (const dsn of [
        "host=db password='unterminated",
        'host=db =hunter2',
        'postgresql://u:hunter2@db:99999/shop',
        'host=db port=hunter2',
      ]) {
        const err = catchError(() => postgresEndpoint(dsn));
        expect(err).toBeInstanceOf(RungateError);
        expect(err.message).not.toMatch(/hunter2|unterminated/);
      }
      expect(() => postgresEndpoint('host=a,b')).toThrow(/several hosts/);
    });
  });

  describe(routePostgresDsn.name, () => {
    it('rewrites host and port of the URL form, keeping everything else', () => {
      expect(
        routePostgresDsn('postgresql://u:p%40ss@db.internal/shop?sslmode=verify-full', forwarder),
      ).toBe('postgresql://u:p%40ss@10.200.0.1:15432/shop?sslmode=verify-full');
      expect(routePostgresDsn('postgres://u:p@db:6432', toIpv6)).toBe('postgres://u:p@[::1]:7000');
    });

    it('drops host, hostaddr and port parameters, which would win over the route', () => {
      expect(
        routePostgresDsn(
          'postgresql://u:p@x/shop?host=db&sslmode=require&port=6000&hostaddr=192.0.2.4',
          forwarder,
        ),
      ).toBe('postgresql://u:p@10.200.0.1:16000/shop?sslmode=require');
    });

    it('rewrites host and port of the key=value form, keeping the other pairs as written', () => {
      expect(
        routePostgresDsn(
          "host=db.internal port=6432 dbname='my shop' password=s\\ cret",
          forwarder,
        ),
      ).toBe("host=10.200.0.1 port=16432 dbname='my shop' password=s\\ cret");
      expect(routePostgresDsn('user=u hostaddr=192.0.2.4 host=db', toIpv6)).toBe(
        'host=::1 port=7000 user=u',
      );
    });
  });
});

function catchError(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}
