module benchlarge

go 1.21
