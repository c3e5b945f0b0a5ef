-- +goose Up
-- Companies, by CNPJ, that contacts work for or represent.
CREATE TABLE companies (
    account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id         uuid NOT NULL,
    cnpj       text COLLATE "C" NOT NULL,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, cnpj)
);

ALTER TABLE contacts ADD COLUMN company_id uuid;
ALTER TABLE contacts ADD FOREIGN KEY (account_id, company_id) REFERENCES companies (account_id, id) ON DELETE SET NULL (company_id);
CREATE INDEX contacts_company ON contacts (account_id, company_id) WHERE company_id IS NOT NULL;

-- +goose Down
ALTER TABLE contacts DROP COLUMN company_id;
DROP TABLE companies;
