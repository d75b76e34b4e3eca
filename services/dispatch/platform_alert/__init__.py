"""Platform alerts from Alertmanager: kept in memory, shown to supervisors."""
