-- Composite search parameters (e.g. Observation component-code-value-quantity): each component's values are stored in
-- its kind's index table under the parameter `<code>$<n>`, and `grp` numbers the composite item (the component of an
-- Observation) they came from, so a search pairs code and value of the same item. NULL for ordinary rows.
ALTER TABLE idx_token ADD COLUMN grp integer;
ALTER TABLE idx_string ADD COLUMN grp integer;
ALTER TABLE idx_date ADD COLUMN grp integer;
ALTER TABLE idx_reference ADD COLUMN grp integer;
ALTER TABLE idx_number ADD COLUMN grp integer;
ALTER TABLE idx_quantity ADD COLUMN grp integer;
ALTER TABLE idx_uri ADD COLUMN grp integer;
