package compare

// Row returns the row named name, if the report has it. Only the tests look a
// row up by name.
func (r Report) Row(name string) (Row, bool) {
	for _, row := range r.Rows {
		if row.Name == name {
			return row, true
		}
	}
	return Row{}, false
}
