package models

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"
)

// JSON is raw JSON text stored as jsonb on PostgreSQL, json on MySQL/MariaDB
// and text on SQLite. A nil JSON is stored as SQL NULL.
type JSON []byte

// Value implements driver.Valuer. It sends text, which every driver accepts
// for a JSON column.
func (j JSON) Value() (driver.Value, error) {
	if j == nil {
		return nil, nil
	}
	if !json.Valid(j) {
		return nil, fmt.Errorf("gormkit: value is not valid JSON")
	}
	return string(j), nil
}

// Scan implements sql.Scanner.
func (j *JSON) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*j = nil
	case []byte:
		*j = append(JSON(nil), v...)
	case string:
		*j = JSON(v)
	default:
		return fmt.Errorf("gormkit: cannot scan %T into JSON", src)
	}
	return nil
}

// MarshalJSON returns j itself, or null when j is nil.
func (j JSON) MarshalJSON() ([]byte, error) {
	if j == nil {
		return []byte("null"), nil
	}
	return j, nil
}

// UnmarshalJSON stores a copy of data.
func (j *JSON) UnmarshalJSON(data []byte) error {
	*j = append((*j)[:0], data...)
	return nil
}

// GormDataType implements schema.GormDataTypeInterface.
func (JSON) GormDataType() string { return "json" }

// GormDBDataType picks the column type per dialect.
func (JSON) GormDBDataType(db *gorm.DB, _ *schema.Field) string {
	return columnType(db.Dialector.Name(), "json")
}
