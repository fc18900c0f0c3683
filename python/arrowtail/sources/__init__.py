"""Sources of committed changes: PostgreSQL, MySQL/MariaDB, and recorded files."""
