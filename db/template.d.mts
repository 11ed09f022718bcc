/** Types of db/template.mjs (plain JavaScript, so the build script can run it before any compile). */
export interface TemplateKey {
  pglite: string;
  migrations: string;
}
export declare const PG_VERSION: 'PG_VERSION';
export declare const TEMPLATE_KEY_FILE: string;
export declare function pgliteVersion(): string;
export declare function migrationsHash(migrationsFolder: string): string;
export declare function templateKey(migrationsFolder: string): TemplateKey;
export declare function templateMatches(template: string, key: TemplateKey): boolean;
export declare function buildPgliteTemplate(template: string, migrationsFolder: string): Promise<boolean>;
export declare function copyPgliteTemplate(template: string, dir: string, key: TemplateKey): boolean;
