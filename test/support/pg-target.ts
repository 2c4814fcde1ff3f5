import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { createDatabase } from './postgres';

/**
 * A "production" PostgreSQL database for target tests: an `orders` table, a read
 * role that may only SELECT and a write role that may change rows.
 */
export async function createOrdersTarget(
  adminUrl: string,
  prefix: string,
): Promise<{ url: string; readRole: string; writeRole: string }> {
  const url = await createDatabase(adminUrl, prefix);
  const readRole = `${prefix}_read`;
  const writeRole = `${prefix}_write`;
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`CREATE TABLE orders (id int PRIMARY KEY, status text NOT NULL)`);
    await c.query(`INSERT INTO orders VALUES (1, 'paid'), (2, 'stuck'), (3, 'stuck')`);
    await c.query(`DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${readRole}') THEN CREATE ROLE ${readRole} NOLOGIN; END IF;
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${writeRole}') THEN CREATE ROLE ${writeRole} NOLOGIN; END IF;
    END $$`);
    await c.query(`GRANT SELECT ON orders TO ${readRole}`);
    await c.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON orders TO ${writeRole}`);
  } finally {
    await c.end();
  }
  return { url, readRole, writeRole };
}

export async function roleExists(url: string, role: string): Promise<boolean> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
    return r.rowCount === 1;
  } finally {
    await c.end();
  }
}

export async function rolesLike(url: string, prefix: string): Promise<string[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query<{ rolname: string }>(
      'SELECT rolname FROM pg_roles WHERE rolname LIKE $1',
      [`${prefix}%`],
    );
    return r.rows.map((x) => x.rolname);
  } finally {
    await c.end();
  }
}

/**
 * A targets file naming the orders database as the prod target `orders-db`; its
 * admin URL is read from ORDERS_DB_ADMIN_URL, as secrets always are. Returns its path.
 */
export function writeOrdersTargetsFile(dir: string, prefix: string): string {
  const file = join(dir, 'targets.yaml');
  writeFileSync(
    file,
    [
      'targets:',
      '  - name: orders-db',
      '    environment: prod',
      '    kind: postgres',
      '    adminUrl: { env: ORDERS_DB_ADMIN_URL }',
      `    readRole: ${prefix}_read`,
      `    writeRole: ${prefix}_write`,
    ].join('\n'),
  );
  return file;
}
