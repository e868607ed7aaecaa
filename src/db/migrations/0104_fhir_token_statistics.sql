-- Token codes are very skewed (a few LOINC codes in millions of rows, most codes rare). With the default sample the
-- planner guessed ~140 rows for a code that had 6,600 and scanned them all to answer `Observation?patient&code`
-- (79 ms); with a larger sample it probes the patient's few rows instead (5 ms). Measured at 1 M resources.
ALTER TABLE idx_token ALTER COLUMN code SET STATISTICS 1000;
ALTER STATISTICS idx_token_stats SET STATISTICS 1000;
