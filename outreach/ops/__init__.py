"""Operations: worker health and housekeeping."""
