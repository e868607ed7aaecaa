-- Index-table columns are strongly correlated (a param implies a type, a code implies a system); without
-- multi-column statistics the planner underestimates "type+param+code" rows and starts searches from the
-- least selective filter (e.g. a LOINC code instead of the patient reference).
CREATE STATISTICS idx_token_stats (dependencies, mcv) ON type, param, code, system FROM idx_token;
CREATE STATISTICS idx_reference_stats (dependencies, mcv) ON type, param, target_type FROM idx_reference;
CREATE STATISTICS idx_string_stats (dependencies, mcv) ON type, param FROM idx_string;
CREATE STATISTICS idx_date_stats (dependencies, mcv) ON type, param FROM idx_date;
