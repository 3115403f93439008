import Engine
import JSON
import JSONSchema

/// The schemas Scale validates against, verbatim: Seed 1.0.0's manifest schema and Scale's
/// v6 job configuration schema (both draft-04; see shared/specs/data/scale/README.md).
enum ScaleSchemas {
    static let seedManifestText = #"""
        {
          "$schema": "http://json-schema.org/draft-04/schema#",
          "type": "object",
          "additionalProperties": false,
          "properties": {
            "seedVersion": {
              "type": "string",
              "pattern": "^1\\.0\\.0$"
            },
            "job": {
              "type": "object",
              "additionalProperties": false,
              "properties": {
                "name": {
                  "type": "string",
                  "pattern": "^[a-zA-Z0-9-]+$"
                },
                "jobVersion": {
                  "type": "string",
                  "pattern": "^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)(-(0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)(\\.(0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*)?(\\+[0-9a-zA-Z-]+(\\.[0-9a-zA-Z-]+)*)?$"
                },
                "packageVersion": {
                  "type": "string",
                  "pattern": "^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)(-(0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)(\\.(0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*)?(\\+[0-9a-zA-Z-]+(\\.[0-9a-zA-Z-]+)*)?$"
                },
                "title": {
                  "type": "string"
                },
                "description": {
                  "type": "string"
                },
                "tags": {
                  "type": "array",
                  "items": {
                    "type": "string"
                  }
                },
                "maintainer": {
                  "type": "object",
                  "additionalProperties": false,
                  "properties": {
                    "name": {
                      "type": "string"
                    },
                    "organization": {
                      "type": "string"
                    },
                    "email": {
                      "type": "string"
                    },
                    "url": {
                      "type": "string"
                    },
                    "phone": {
                      "type": "string"
                    }
                  },
                  "required": [
                    "name",
                    "email"
                  ]
                },
                "timeout": {
                  "type": "integer"
                },
                "resources": {
                  "type": "object",
                  "additionalProperties": false,
                  "properties": {
                    "scalar": {
                      "type": "array",
                      "items": {
                        "type": "object",
                        "additionalProperties": false,
                        "properties": {
                          "name": {
                            "type": "string",
                            "pattern": "^[a-zA-Z0-9_-]+$"
                          },
                          "value": {
                            "type": "number"
                          },
                          "inputMultiplier": {
                            "type": "number"
                          }
                        },
                        "required": [
                          "name",
                          "value"
                        ]
                      },
                      "required": [
                        "scalar"
                      ]
                    }
                  }
                },
                "interface": {
                  "type": "object",
                  "additionalProperties": false,
                  "properties": {
                    "command": {
                      "type": "string"
                    },
                    "inputs": {
                      "type": "object",
                      "additionalProperties": false,
                      "properties": {
                        "files": {
                          "type": "array",
                          "items": {
                            "type": "object",
                            "additionalProperties": false,
                            "properties": {
                              "name": {
                                "type": "string",
                                "pattern": "^[a-zA-Z0-9_-]+$"
                              },
                              "required": {
                                "type": "boolean",
                                "default": true
                              },
                              "mediaTypes": {
                                "type": "array",
                                "items": {
                                  "type": "string"
                                }
                              },
                              "multiple": {
                                "type": "boolean",
                                "default": false
                              },
                              "partial": {
                                "type": "boolean",
                                "default": false
                              }
                            },
                            "required": [
                              "name"
                            ]
                          }
                        },
                        "json": {
                          "type": "array",
                          "items": {
                            "type": "object",
                            "additionalProperties": false,
                            "properties": {
                              "name": {
                                "type": "string",
                                "pattern": "^[a-zA-Z0-9_-]+$"
                              },
                              "required": {
                                "type": "boolean",
                                "default": true
                              },
                              "type": {
                                "type": "string",
                                "enum": [
                                  "array",
                                  "boolean",
                                  "integer",
                                  "number",
                                  "object",
                                  "string"
                                ]
                              }
                            },
                            "required": [
                              "name",
                              "type"
                            ]
                          }
                        }
                      }
                    },
                    "outputs": {
                      "type": "object",
                      "additionalProperties": false,
                      "properties": {
                        "files": {
                          "type": "array",
                          "items": {
                            "type": "object",
                            "additionalProperties": false,
                            "properties": {
                              "name": {
                                "type": "string",
                                "pattern": "^[a-zA-Z0-9_-]+$"
                              },
                              "mediaType": {
                                "type": "string"
                              },
                              "pattern": {
                                "type": "string"
                              },
                              "multiple": {
                                "type": "boolean",
                                "default": false
                              },
                              "required": {
                                "type": "boolean",
                                "default": true
                              }
                            },
                            "required": [
                              "name",
                              "pattern"
                            ]
                          }
                        },
                        "json": {
                          "type": "array",
                          "items": {
                            "type": "object",
                            "additionalProperties": false,
                            "properties": {
                              "name": {
                                "type": "string",
                                "pattern": "^[a-zA-Z0-9_-]+$"
                              },
                              "key": {
                                "type": "string"
                              },
                              "type": {
                                "type": "string",
                                "enum": [
                                  "array",
                                  "boolean",
                                  "integer",
                                  "number",
                                  "object",
                                  "string"
                                ]
                              },
                              "required": {
                                "type": "boolean",
                                "default": true
                              }
                            },
                            "required": [
                              "name",
                              "type"
                            ]
                          }
                        }
                      }
                    },
                    "mounts": {
                      "type": "array",
                      "items": {
                        "type": "object",
                        "additionalProperties": false,
                        "properties": {
                          "name": {
                            "type": "string",
                            "pattern": "^[a-zA-Z0-9_-]+$"
                          },
                          "path": {
                            "type": "string"
                          },
                          "mode": {
                            "enum": [
                              "ro",
                              "rw"
                            ],
                            "default": "ro"
                          }
                        },
                        "required": [
                          "name",
                          "path"
                        ]
                      }
                    },
                    "settings": {
                      "type": "array",
                      "items": {
                        "type": "object",
                        "additionalProperties": false,
                        "properties": {
                          "name": {
                            "type": "string",
                            "pattern": "^[a-zA-Z0-9_-]+$"
                          },
                          "secret": {
                            "type": "boolean",
                            "default": false
                          }
                        },
                        "required": [
                          "name"
                        ]
                      }
                    }
                  }
                },
                "errors": {
                  "type": "array",
                  "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                      "code": {
                        "type": "integer"
                      },
                      "name": {
                        "type": "string",
                        "pattern": "^[a-zA-Z0-9_-]+$"
                      },
                      "title": {
                        "type": "string"
                      },
                      "description": {
                        "type": "string"
                      },
                      "category": {
                        "type": "string",
                        "default": "job",
                        "enum": [
                          "job",
                          "data"
                        ]
                      }
                    },
                    "required": [
                      "code",
                      "name"
                    ]
                  }
                }
              },
              "required": [
                "name",
                "jobVersion",
                "packageVersion",
                "title",
                "description",
                "maintainer",
                "timeout"
              ]
            }
          },
          "required": [
            "seedVersion",
            "job"
          ]
        }
        """#

    static let jobConfigurationText = #"""
        {
          "type": "object",
          "required": [
            "mounts",
            "output_workspaces",
            "priority",
            "settings"
          ],
          "additionalProperties": false,
          "properties": {
            "version": {
              "description": "Version of the job configuration schema",
              "type": "string"
            },
            "mounts": {
              "description": "Defines volumes to use for the job's mounts",
              "type": "object",
              "additionalProperties": {
                "$ref": "#/definitions/mount"
              }
            },
            "output_workspaces": {
              "description": "Defines workspaces to use for the job's output files",
              "type": "object",
              "required": [
                "default",
                "outputs"
              ],
              "additionalProperties": false,
              "properties": {
                "default": {
                  "description": "Defines the job's default output workspace",
                  "type": "string"
                },
                "outputs": {
                  "description": "Defines a workspace for each given output name",
                  "type": "object",
                  "additionalProperties": {
                    "type": "string"
                  }
                }
              }
            },
            "priority": {
              "description": "Defines the job's priority",
              "type": "integer",
              "minimum": 1
            },
            "settings": {
              "description": "Defines values to use for the job's settings",
              "type": "object",
              "additionalProperties": {
                "type": "string"
              }
            }
          },
          "definitions": {
            "mount": {
              "oneOf": [
                {
                  "type": "object",
                  "description": "A configuration for a host mount",
                  "required": [
                    "type",
                    "host_path"
                  ],
                  "additionalProperties": false,
                  "properties": {
                    "type": {
                      "enum": [
                        "host"
                      ]
                    },
                    "host_path": {
                      "type": "string"
                    }
                  }
                },
                {
                  "type": "object",
                  "description": "A configuration for a volume mount",
                  "required": [
                    "type",
                    "driver",
                    "driver_opts"
                  ],
                  "additionalProperties": false,
                  "properties": {
                    "type": {
                      "enum": [
                        "volume"
                      ]
                    },
                    "driver": {
                      "type": "string"
                    },
                    "driver_opts": {
                      "type": "object",
                      "additionalProperties": {
                        "type": "string"
                      }
                    }
                  }
                }
              ]
            }
          }
        }
        """#

    static let seedManifest = JSONSchema(try! JSON.parse(seedManifestText), trusted: true)
    static let jobConfiguration = JSONSchema(try! JSON.parse(jobConfigurationText), trusted: true)
}
