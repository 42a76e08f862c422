/*{
    "DESCRIPTION": "Line 7 lacks the colon after DEFAULT",
    "INPUTS": [
        {
            "NAME": "level",
            "TYPE": "float",
            "DEFAULT" 0.5
        }
    ]
}*/

void main() { gl_FragColor = vec4(level); }
